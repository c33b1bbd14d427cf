package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema/world"
)

func TestShardedForecastCommandsWriteBackOnceAtTheMerge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := world.New(world.Config{Seed: 5, Stores: 5, SKUs: 20, Days: 130})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.WriteWorld(ctx, l, w, job.WorldOptions{StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	erp := erptest.New(erptest.Options{ClientSecret: "s3cret"})
	defer erp.Close()
	t.Setenv("SHELFLAKE_ERP_CLIENT_SECRET", "s3cret")
	t.Setenv("SHELFLAKE_BROKERS", "")
	t.Setenv("SHELFLAKE_PUSHGATEWAY_URL", "")
	base := []string{"forecast", "--lake", dir, "--as-of", w.Date(w.Days()).String()}
	erpFlags := []string{"--erp-url", erp.URL, "--erp-token-url", erp.TokenURL, "--erp-client-id", erp.ClientID}
	cli := func(extra ...string) (string, error) {
		return runCLI(t, ctx, append(append([]string{}, base...), extra...)...)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "0/2"}, "--train"},
		{[]string{"--merge", "--shards", "2"}, "--train"},
		{[]string{"--merge"}, "--shards"},
		{[]string{"--train", "--shard", "0/2"}, "give one"},
		{[]string{"--shard", "2/2"}, "0 ≤ i < N"},
		{[]string{"--shard", "index/2"}, "JOB_COMPLETION_INDEX"},
	} {
		if _, err := cli(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("forecast %v: %v, want an error naming %q", c.args, err, c.want)
		}
	}
	if _, err := cli("--train"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("--shard", "0/2"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	if _, err := cli("--shard", "index/2"); err != nil {
		t.Fatal(err)
	}
	if n := len(erp.Accepted()); n != 0 {
		t.Fatalf("the shards sent %d documents: only the merge sends", n)
	}
	var reports [2]forecastReport
	for i := range reports {
		out, err := cli(append([]string{"--merge", "--shards", "2", "--json"}, erpFlags...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &reports[i]); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	first, second := reports[0], reports[1]
	docs := int(first.Run.Documents)
	if first.Existing || !second.Existing || first.Run.Series != 100 || docs == 0 {
		t.Fatalf("merges: %+v then %+v", first.Run, second.Run)
	}
	if first.Writeback == nil || first.Writeback.Accepted != docs || second.Writeback.Accepted != 0 || len(erp.Accepted()) != docs {
		t.Errorf("write-back %+v then %+v; the ERP holds %d of %d documents", first.Writeback, second.Writeback, len(erp.Accepted()), docs)
	}
}
