/// The bundled sample: a FilamentDB web-app export (dexie-export-import, database version 2) as a user's
/// browser would write it before the sync schema: no `lastUpdated` on older records, a generic serial
/// shared by two spools, one spool with an empty serial, a soft-deleted spool, a typeson date, a field the
/// canonical schema does not know, and a header `rowCount` that does not match the rows.
public enum SampleInventory {
    public static let fileName = "filamentdb-sample-export.json"

    public static let dexieExport = #"""
{"formatName":"dexie","formatVersion":1,"data":{"databaseName":"FilamentDB","databaseVersion":2,"tables":[{"name":"spools","schema":"++id,serial,brand,type,color,lastScanned","rowCount":9}],"data":[{"tableName":"spools","inbound":true,"rows":[
{"id":1,"serial":"PRU-PLA-GB-2024-0412","brand":"Prusament","series":"PLA","type":"PLA","color":"Galaxy Black","colorHex":"#1B1B1F","finish":"glossy","weightTotal":1000,"weightRemaining":812.5,"weightSpool":201,"diameter":1.75,"density":1.24,"temperatureNozzleMin":205,"temperatureNozzleMax":225,"temperatureBedMin":40,"temperatureBedMax":60,"tags":["favourite","galaxy"],"countryOfOrigin":"CZ","batchNumber":"G2404-12","productionDate":"2024-04-12","nfcTagSerial":"04:A2:3B:91:5C:71:80","nfcTagHistory":[{"timestamp":1713000000000,"action":"assigned","tagSerial":"04:A2:3B:91:5C:71:80"}],"lastScanned":1731412800000,"detailUrl":"https://www.prusa3d.com/product/prusament-pla-galaxy-black-1kg/","notes":"Great for \"space\" prints; dry before use.","location":"Shelf A"},
{"id":2,"serial":"POLY-TERRA-SAKURA-01","brand":"Polymaker","series":"PolyTerra","type":"PLA","color":"Sakura Pink","colorHex":"#F4A6C0","finish":"matte","weightTotal":1000,"weightRemaining":455,"diameter":1.75,"temperatureNozzleMin":190,"temperatureNozzleMax":230,"tags":[],"createdAt":1704067200000,"purchasePrice":{"amount":21.99,"currency":"EUR"},"$types":{"tags":"arrayNonindexKeys"}},
{"id":3,"serial":"ESUN-PETG-CLR-7731","brand":"eSun","type":"PETG","color":"Transparent","colorHex":"#E8F4F8","weightTotal":1000,"weightRemaining":120,"weightSpool":224,"diameter":1.75,"density":1.27,"temperatureNozzleMin":230,"temperatureNozzleMax":250,"temperatureBedMin":70,"temperatureBedMax":80,"lastScanned":1727740800000,"createdAt":1696118400000,"$types":{"createdAt":"date"}},
{"id":4,"serial":"BAMBU-PLA-BASIC-WHITE","brand":"Bambu Lab","series":"PLA Basic","type":"PLA","color":"Jade White","colorHex":"#FFFFFF","weightTotal":1000,"weightRemaining":990,"diameter":1.75,"lastScanned":1730000000000},
{"id":5,"serial":"BAMBU-PLA-BASIC-WHITE","brand":"Bambu Lab","series":"PLA Basic","type":"PLA","color":"Jade White","colorHex":"#FFFFFF","weightTotal":1000,"weightRemaining":340,"diameter":1.75,"lastScanned":1729000000000,"notes":"Second spool of the same generic product"},
{"id":6,"serial":"","brand":"Generic","type":"TPU","color":"Red","weightTotal":500,"weightRemaining":500,"diameter":1.75,"shoreHardnessA":95},
{"id":7,"serial":"OVERTURE-ABS-GRY-22","brand":"Overture","type":"ABS","color":"Space Grey","weightTotal":1000,"weightRemaining":0,"lastScanned":1720000000000,"lastUpdated":1725000000000,"deleted":true},
{"id":8,"serial":"d3b07384-d9a0-4c5e-9f2b-6e8a1c2f7b10","brand":"Fiberlogy","type":"ASA","color":"Orange","colorHex":"#FF7A00","finish":"plain","weightTotal":850,"weightRemaining":610.25,"weightSpool":180,"diameter":1.75,"temperatureChamberIdeal":50,"lastScanned":1732000000000,"lastUpdated":1732000000000,"createdAt":1700000000000,"visibility":"private","ownerId":"user-42"}
]}]}}
"""#
}
