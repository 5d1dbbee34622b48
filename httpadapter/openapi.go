package httpadapter

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// openAPIDocument describes every route with its default path.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIDocPath is the path of WithOpenAPI's route in the document.
const openAPIDocPath = "/openapi.json"

// OpenAPI returns an OpenAPI 3.1 document of the Handler's routes, with the
// paths as mounted (prefixes applied, route sets left out are absent). The
// returned slice is a copy.
func (h *Handler) OpenAPI() []byte {
	return append([]byte(nil), h.openAPI...)
}

// renderOpenAPI rewrites the embedded document for the mounted routes.
func (h *Handler) renderOpenAPI() ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		return nil, fmt.Errorf("httpadapter: embedded openapi.json: %w", err)
	}
	docPaths, _ := doc["paths"].(map[string]any)
	paths := make(map[string]any)
	for _, rt := range h.routes {
		item, ok := docPaths[rt.docPath].(map[string]any)
		if !ok {
			continue // undocumented: the tests catch it
		}
		out, _ := paths[rt.path].(map[string]any)
		if out == nil {
			out = make(map[string]any)
			paths[rt.path] = out
		}
		if op, ok := item[strings.ToLower(rt.method)]; ok {
			out[strings.ToLower(rt.method)] = op
		}
	}
	doc["paths"] = paths
	return json.MarshalIndent(doc, "", "  ")
}
