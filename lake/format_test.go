package lake

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

// FORMAT.md documents every table's columns; this keeps it in step with
// schema/tables.go.
func TestFormatDocumentsEveryTableColumn(t *testing.T) {
	b, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.Contains(doc, "Format version: **"+FormatVersion+"**") {
		t.Errorf("FORMAT.md does not state format version %s", FormatVersion)
	}
	for _, tb := range schema.Tables() {
		head := "### `" + tb.Name + "`"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("FORMAT.md has no section %s", head)
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
			t.Errorf("FORMAT.md table %s documents columns\n%s\nwant\n%s",
				tb.Name, strings.Join(documented, "\n"), strings.Join(want, "\n"))
		}
	}
}
