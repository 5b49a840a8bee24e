import Foundation
import SpoolTestSupport
import Testing

/// The web app's sync client in a real browser: `Tests/Browser/check_browser.py` serves `webapp.html` (the web app's
/// `SyncManager` as SYNC-PROTOCOL.md describes it, over the browser's IndexedDB and `fetch`) from one origin and runs
/// `filamentdb serve` on another, and drives two headless Chromium devices through a first sync each, an edit, a
/// merge of two devices' edits, a deletion, a wrong key and malformed bodies: the browser enforces CORS (every sync
/// is preflighted, and an answer the headers do not allow is "Failed to fetch"), and both browsers end holding what
/// the server holds. Skipped where Chromium is not installed (CI installs it).
@Suite struct BrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let script = Fixtures.repositoryRoot.appendingPathComponent("Tests/Browser/check_browser.py").path

    @Test(.enabled(if: chromium != nil, "Chromium is not installed (apt-get install chromium): the web app's client was not run in a browser"))
    func theWebAppsClientInChromiumSyncsTwoDevicesThroughTheServer() throws {
        let (status, output) = try Command.run("/usr/bin/env", ["python3", Self.script, "--filamentdb", CLI.binary, "--chromium", Self.chromium!])
        #expect(status == 0, "\(output)")
        #expect(output.contains("every check held"), "\(output)")
    }
}
