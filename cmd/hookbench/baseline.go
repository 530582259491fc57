package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// baseline is the commit that -baseline names, resolved before anything is built.
type baseline struct {
	rev, commit, short, subject string
}

// resolveBaseline finds the commit rev names in the repository at root.
func resolveBaseline(ctx context.Context, root, rev string) (baseline, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "log", "-1", "--format=%H %h %s", rev+"^{commit}", "--").Output()
	if err != nil {
		return baseline{}, fmt.Errorf("-baseline %s: not a commit of the repository at %s: %v", rev, root, exitText(err))
	}
	f := strings.SplitN(strings.TrimSpace(string(out)), " ", 3)
	if len(f) < 2 {
		return baseline{}, fmt.Errorf("-baseline %s: git log printed %q", rev, out)
	}
	b := baseline{rev: rev, commit: f[0], short: f[1]}
	if len(f) == 3 {
		b.subject = f[2]
	}
	return b, nil
}

// buildBaseline builds cmd/hookvault as it was at the baseline's commit into the temporary
// directory: git archive writes that commit's tree there (the repository, its index and its
// worktrees stay as they are), go build builds it with this toolchain and module cache, and
// the tree is removed again, leaving the binary.
func (b *bench) buildBaseline(ctx context.Context, root string, base baseline) (binary string, err error) {
	src := filepath.Join(b.dir, "src-"+base.short)
	if err := os.Mkdir(src, 0o755); err != nil {
		return "", err
	}
	defer func() {
		if rerr := os.RemoveAll(src); err == nil && rerr != nil {
			err = rerr
		}
	}()
	fmt.Fprintf(b.log, "building hookvault@%s (%s) in %s\n", base.short, base.rev, src)
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", base.commit)
	var archiveErr strings.Builder
	archive.Stderr = &archiveErr
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	if untar.Stdin, err = archive.StdoutPipe(); err != nil {
		return "", err
	}
	if err := archive.Start(); err != nil {
		return "", fmt.Errorf("git archive: %w", err)
	}
	out, terr := untar.CombinedOutput()
	if aerr := archive.Wait(); aerr != nil {
		return "", fmt.Errorf("git archive %s: %v\n%s", base.commit, aerr, archiveErr.String())
	}
	if terr != nil {
		return "", fmt.Errorf("tar -x: %v\n%s", terr, out)
	}

	binary = filepath.Join(b.dir, "hookvault-"+base.short)
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/hookvault")
	build.Dir = src
	build.Env = append(os.Environ(), "GOWORK=off") // no go.work of the developer's applies to it
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/hookvault at %s: %v\n%s", base.short, err, out)
	}
	return binary, nil
}

// exitText is a failed command's own words when it wrote any to stderr.
func exitText(err error) string {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && len(ee.Stderr) > 0 {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return err.Error()
}
