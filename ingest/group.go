package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// checkGroup refuses a consumer group that has no offsets in the lake for
// the input topics while other groups have: the new group would consume
// the retained topics from their start and write every record again. The
// error names the groups found and what to do.
func (i *Ingester) checkGroup(ctx context.Context) error {
	others := map[string]bool{}
	for _, t := range i.tables {
		vs, err := t.lake.TxnVersions(ctx)
		if err != nil {
			return fmt.Errorf("table %s: txn versions: %w", t.desc.Name, err)
		}
		for app := range vs {
			group, topic, ok := splitAppID(app)
			if !ok || i.topics[topic] == nil {
				continue
			}
			if group == i.o.Group {
				return nil
			}
			others[group] = true
		}
	}
	if len(others) == 0 {
		return nil // a new lake
	}
	names := make([]string, 0, len(others))
	for g := range others {
		names = append(names, g)
	}
	slices.Sort(names)
	return fmt.Errorf("the lake already holds these topics as ingested by group %s, and group %q has no offsets in it: "+
		"it would ingest every retained record again; run with --group %s, or pass --new-group-ok if the topics were recreated and the lake should take them anew",
		quoteAll(names), i.o.Group, names[0])
}

// splitAppID splits a txn appId "<group>/<topic>/<partition>" (AppID); the
// group may itself contain slashes.
func splitAppID(app string) (group, topic string, ok bool) {
	k := strings.LastIndexByte(app, '/')
	if k <= 0 {
		return "", "", false
	}
	j := strings.LastIndexByte(app[:k], '/')
	if j <= 0 {
		return "", "", false
	}
	return app[:j], app[j+1 : k], true
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for k, s := range ss {
		q[k] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
