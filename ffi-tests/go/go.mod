module kvdb.test/kvdb

go 1.19
