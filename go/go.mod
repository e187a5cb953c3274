module github.com/kvdb/kvdb/go

go 1.19
