package schema

import (
	"embed"
	"fmt"
)

// jsonSchemas holds the JSON Schema (draft 2020-12) of every input stream,
// jsonschema/<topic>.schema.json, for producers. A test keeps them in step
// with the Go types and the decoders. Read-only.
//
//go:embed jsonschema/*.schema.json
var jsonSchemas embed.FS

// JSONSchema returns the JSON Schema (draft 2020-12) of topic's documents.
func JSONSchema(topic string) ([]byte, error) {
	b, err := jsonSchemas.ReadFile("jsonschema/" + topic + ".schema.json")
	if err != nil {
		return nil, fmt.Errorf("json schema of topic %q: %w", topic, err)
	}
	return b, nil
}
