package main

import (
	"errors"
	"fmt"

	"github.com/hookvault/hookvault/internal/signature"
)

type signCmd struct {
	secretFlag

	// Data is a pointer so that --data "" (sign the empty body) differs from no --data.
	Data   *string `placeholder:"STRING" help:"Sign STRING instead of a file or standard input."`
	Header bool    `help:"Print \"X-Signature: <hex>\", ready for curl -H, instead of the bare hex."`
	File   string  `arg:"" optional:"" placeholder:"FILE" help:"File whose bytes to sign; - or nothing reads standard input."`
}

func (c *signCmd) Help() string {
	return `The signature covers exactly the bytes read, trailing newline included, because the
server checks the raw body. echo adds a newline and printf does not:

  printf '%s' '{"id":"1","sender":"a","content":""}' | hookctl sign
  hookctl sign --data '{"id":"1","sender":"a","content":""}'

sign the same bytes; "echo '{...}' | hookctl sign" signs one more byte.`
}

func (c *signCmd) Validate() error {
	if c.Data != nil && c.File != "" {
		return errors.New("give --data or FILE, not both")
	}
	return nil
}

func (c *signCmd) Run(s *streams) error {
	key, err := c.key()
	if err != nil {
		return err
	}
	var body []byte
	switch {
	case c.Data != nil:
		body = []byte(*c.Data)
	case c.File == "":
		body, err = readInput("-", s.stdin)
	default:
		body, err = readInput(c.File, s.stdin)
	}
	if err != nil {
		return err
	}
	sig := signature.Sign(key, body)
	if c.Header {
		_, err = fmt.Fprintf(s.stdout, "%s: %s\n", signature.HeaderSignature, sig)
	} else {
		_, err = fmt.Fprintln(s.stdout, sig)
	}
	return err
}
