import SpoolSync
