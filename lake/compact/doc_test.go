package compact

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

// UNIFIED.md documents every unified table's columns; this keeps it in step
// with schema/unified.go.
func TestUnifiedDocDocumentsEveryColumn(t *testing.T) {
	b, err := os.ReadFile("UNIFIED.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, tb := range schema.UnifiedTables() {
		head := "### `" + tb.Name + "`"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("UNIFIED.md has no section %s", head)
			continue
		}
		section := doc[i+len(head):]
		if j := strings.Index(section, "\n#"); j >= 0 {
			section = section[:j]
		}
		var documented []string
		for _, line := range strings.Split(section, "\n") {
			if strings.HasPrefix(line, "| `") {
				cells := strings.Split(line, "|")
				documented = append(documented, strings.TrimSpace(cells[1])+" "+strings.TrimSpace(cells[2]))
			}
		}
		fields, err := tb.DeltaFields()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range fields {
			want = append(want, fmt.Sprintf("`%s` %s", f.Name, f.Type))
		}
		if strings.Join(documented, "\n") != strings.Join(want, "\n") {
			t.Errorf("UNIFIED.md table %s documents columns\n%s\nwant\n%s",
				tb.Name, strings.Join(documented, "\n"), strings.Join(want, "\n"))
		}
	}
}
