package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	stdout, stderr, code := run(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("version: exit %d: %s", code, stderr)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(stdout), &b); err != nil {
		t.Fatalf("version -o json: %v: %s", err, stdout)
	}
	if b.Version != version || b.Module != "github.com/vessel-oci/vessel" || b.Go != runtime.Version() {
		t.Errorf("version: %+v", b)
	}
	if stdout, _, _ := run(t, "version"); !strings.HasPrefix(stdout, "vessel   "+version+"\n") {
		t.Errorf("version text: %q", stdout)
	}
	if _, _, code := run(t, "version", "extra"); code != exitUsage {
		t.Errorf("version with an argument: exit %d", code)
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "complete -o bashdefault -o default -F _vessel_complete vessel",
		"zsh":  "compdef _vessel vessel",
		"fish": "complete -c vessel",
	} {
		stdout, stderr, code := run(t, "completion", shell)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("completion %s: exit %d, %q not in\n%s%s", shell, code, want, stdout, stderr)
		}
	}
	if _, _, code := run(t, "completion", "tcsh"); code != exitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", code, exitUsage)
	}
	// What the scripts ask: the words that may follow. urfave/cli reads
	// the word before the flag from os.Args, so the test sets them.
	complete := func(args ...string) string {
		saved := os.Args
		defer func() { os.Args = saved }()
		os.Args = append([]string{"vessel"}, args...)
		stdout, _, _ := run(t, args...)
		return stdout
	}
	stdout := complete("--generate-bash-completion")
	for _, cmd := range []string{"push", "pull", "verify", "completion", "version"} {
		if !strings.Contains(stdout, cmd+"\n") {
			t.Errorf("top-level completion lacks %s:\n%s", cmd, stdout)
		}
	}
	if stdout := complete("pull", "--k", "--generate-bash-completion"); !strings.Contains(stdout, "--key") {
		t.Errorf("flag completion of pull --k lacks --key:\n%s", stdout)
	}
}
