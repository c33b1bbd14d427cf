// Command peer is Benthos v4.27.0 (github.com/benthosdev/benthos/v4, MIT)
// built with only the components `shelflake bench ingest --peer` runs: the
// kafka_franz input, the mapping (Bloblang) and parquet_encode processors
// (the latter in components/pure/extended) and the file output. It is a peer to compare against, not part of
// shelflake; its module is separate so its dependencies stay out of ours.
package main

import (
	"context"

	"github.com/benthosdev/benthos/v4/public/service"

	_ "github.com/benthosdev/benthos/v4/public/components/io"
	_ "github.com/benthosdev/benthos/v4/public/components/kafka"
	_ "github.com/benthosdev/benthos/v4/public/components/pure"
	_ "github.com/benthosdev/benthos/v4/public/components/pure/extended"
)

func main() {
	service.RunCLI(context.Background())
}
