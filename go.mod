module github.com/zombi-dev/zombi

go 1.26.0

require (
	github.com/klauspost/compress v1.20.3
	github.com/linxGnu/grocksdb v1.7.15
	github.com/pierrec/lz4/v4 v4.1.33
	google.golang.org/protobuf v1.36.12
)

require github.com/stretchr/testify v1.11.1 // indirect

tool google.golang.org/protobuf/cmd/protoc-gen-go
