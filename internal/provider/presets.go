package provider

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"net/http"
	"slices"

	"github.com/hookvault/hookvault/internal/signature"
)

// A preset is a provider's scheme as data: what it signs, how, where the timestamp and the
// signatures sit, how a secret becomes a key, and how a delivery gets its id and type. One
// verifier (verifyMAC) runs every HMAC preset; the three that truly differ — Twilio's URL
// and sorted form parameters, Discord's Ed25519, Mailgun's signature inside the body — and
// hookvault's own scheme add a small function in special instead.
type preset struct {
	name  string
	media media
	sig   sigSpec
	key   keyRule

	special  func(s *Source, r Request) signature.Reason
	needsURL bool // the signed content includes the public URL the provider calls

	id, typ         rules // for JSON bodies (and bodies of any type, for hmac)
	formID, formTyp rules // for form bodies; nil: the same as id and typ
	formPayload     bool  // a form body carries its JSON document in the field payload
	needsBody       bool  // an empty body is refused before any HMAC (Shopify's MissingBody)
	jsonBody        bool  // Read refuses a body that is not JSON (or a form whose payload is not)

	challenge challengeKind
	signSet   int // the header set Sign uses when the request names none
	// signID and signType are the headers Sign sets when the request has none, so that a
	// delivery made by `hookctl send --provider P` reads as P's would. signType is a value
	// the provider really sends (GitHub's ping, for instance), not an invented one.
	signID   func() string
	signType []string // header, value pairs
}

type media uint8

const (
	mediaJSON media = 1 << iota
	mediaForm
	mediaAny
)

// sigSpec describes where the signatures are and what they sign.
type sigSpec struct {
	sets   []headerSet // tried in order; the first whose signature header is present is used
	layout layout
	prefix string // layoutPlain: what precedes the encoded MAC, e.g. "sha256="
	// layoutPairs: `t=…,v1=…` (Stripe, Calendly) or `ts=…;h1=…` (Paddle).
	pairSep byte
	tsKey   string
	sigKey  string
	// layoutList: space-separated `version,signature` entries (Standard Webhooks).
	version string

	alg     func() hash.Hash
	size    int // bytes of the MAC
	enc     encoding
	content []part
	ts      tsSpec
}

// headerSet names the headers of one naming of a scheme: Standard Webhooks' webhook-* or
// svix-*, Shopify's X-Shopify-* or its Events' shopify-*. A request is read under one set,
// never a mix, as the official libraries read it.
type headerSet struct {
	sig, ts, id string // canonical names; ts and id "" where the scheme has none
}

type layout uint8

const (
	layoutPlain layout = iota // the header value is one signature
	layoutPairs               // key=value pairs with a timestamp and one or more signatures
	layoutList                // space-separated version,signature entries
)

type encoding uint8

const (
	encHexLower encoding = iota // what the provider sends, compared as its library compares strings
	encHexAny                   // either case: libraries that decode the hex first
	encBase64                   // standard alphabet, padded, canonical
)

type partKind uint8

const (
	partLit partKind = iota
	partBody
	partTS     // the timestamp exactly as sent
	partID     // the id header of the header set
	partMethod // the request method
	partURL    // the configured public URL plus the request's query
	partParams // Twilio's sorted form parameters
)

type part struct {
	kind partKind
	lit  []byte
}

func lit(s string) part { return part{kind: partLit, lit: []byte(s)} }

var (
	body   = part{kind: partBody}
	ts     = part{kind: partTS}
	id     = part{kind: partID}
	method = part{kind: partMethod}
	pubURL = part{kind: partURL}
)

type tsFrom uint8

const (
	tsNone   tsFrom = iota
	tsHeader        // the header set's ts header
	tsPair          // the tsKey pair of the signature header
	tsBody          // a body field (Linear's webhookTimestamp), with a header as fallback
)

type tsUnit uint8

const (
	unitSeconds tsUnit = iota
	unitMillis
	unitRFC3339
)

type tsSpec struct {
	from     tsFrom
	unit     tsUnit
	field    []pointer // tsBody: the field, one JSON pointer
	fallback string    // tsBody: header read when the body has no such field
}

type keyRule uint8

const (
	keyRaw       keyRule = iota // the secret's bytes
	keyBase64                   // base64 after an optional whsec_ (Standard Webhooks, Svix)
	keyPublicKey                // no secrets: an Ed25519 public key (Discord)
)

type challengeKind uint8

const (
	challengeNone challengeKind = iota
	challengeSlack
	challengeZoom
	challengeTwitch
	challengeDiscord
)

// Canonical header names, spelled once.
const (
	hGitHubSig     = "X-Hub-Signature-256"
	hGitHubEvent   = "X-Github-Event"
	hStripeSig     = "Stripe-Signature"
	hShopifySig    = "X-Shopify-Hmac-Sha256"
	hShopifyTopic  = "X-Shopify-Topic"
	hShopifyEvSig  = "Shopify-Hmac-Sha256"
	hSlackSig      = "X-Slack-Signature"
	hSlackTS       = "X-Slack-Request-Timestamp"
	hTwilioSig     = "X-Twilio-Signature"
	hPaddleSig     = "Paddle-Signature"
	hSquareSig     = "X-Square-Hmacsha256-Signature"
	hHubSpotSig    = "X-Hubspot-Signature-V3"
	hHubSpotTS     = "X-Hubspot-Request-Timestamp"
	hLinearSig     = "Linear-Signature"
	hLinearTS      = "Linear-Timestamp"
	hLinearEvent   = "Linear-Event"
	hZoomSig       = "X-Zm-Signature"
	hZoomTS        = "X-Zm-Request-Timestamp"
	hTwitchSig     = "Twitch-Eventsub-Message-Signature"
	hTwitchID      = "Twitch-Eventsub-Message-Id"
	hTwitchTS      = "Twitch-Eventsub-Message-Timestamp"
	hTwitchType    = "Twitch-Eventsub-Message-Type"
	hTwitchSubType = "Twitch-Eventsub-Subscription-Type"
	hDiscordSig    = "X-Signature-Ed25519"
	hDiscordTS     = "X-Signature-Timestamp"
	hTypeformSig   = "Typeform-Signature"
	hIntercomSig   = "X-Hub-Signature"
	hCalendlySig   = "Calendly-Webhook-Signature"
	hWebhookID     = "Webhook-Id"
	hWebhookTS     = "Webhook-Timestamp"
	hWebhookSig    = "Webhook-Signature"
	hSvixID        = "Svix-Id"
	hSvixTS        = "Svix-Timestamp"
	hSvixSig       = "Svix-Signature"
)

// presets is the product spec's table of sources, as data. The comments say where a preset
// departs from an official library, and why; vectors_test.go cites each library.
var presets = map[string]*preset{
	"hookvault": {
		name:     "hookvault",
		media:    mediaJSON,
		special:  verifyHookvault,
		id:       mustRules("json:/id"),
		jsonBody: true,
	},
	// Both official libraries base64-decode the secret with or without whsec_
	// (standard-webhooks libraries/go NewWebhook, svix go NewWebhook), so this preset does
	// too — unlike POST /webhook, which keys an unprefixed secret with its raw bytes.
	"standard-webhooks": {
		name:  "standard-webhooks",
		media: mediaJSON,
		sig: sigSpec{
			sets: []headerSet{
				{sig: hWebhookSig, ts: hWebhookTS, id: hWebhookID},
				{sig: hSvixSig, ts: hSvixTS, id: hSvixID},
			},
			layout: layoutList, version: "v1",
			alg: sha256.New, size: sha256.Size, enc: encBase64,
			content: []part{id, lit("."), ts, lit("."), body},
			ts:      tsSpec{from: tsHeader, unit: unitSeconds},
		},
		key:      keyBase64,
		id:       mustRules("header:webhook-id", "header:svix-id"),
		typ:      mustRules("json:/type"),
		jsonBody: true,
		signID:   func() string { return "msg_" + randomText() },
	},
	// The secret string as is: Stripe's whsec_ secrets are not base64 keys
	// (stripe-go webhook/client.go ComputeSignature). Timestamps are refused both ways, as
	// stripe-php does; stripe-go and stripe-node refuse only old ones.
	"stripe": {
		name:  "stripe",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hStripeSig}},
			layout: layoutPairs, pairSep: ',', tsKey: "t", sigKey: "v1",
			alg: sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{ts, lit("."), body},
			ts:      tsSpec{from: tsPair, unit: unitSeconds},
		},
		id:       mustRules("json:/id"),
		typ:      mustRules("json:/type"),
		jsonBody: true,
	},
	// octokit/webhooks-methods compares the whole `sha256=<hex>` string, so the prefix is
	// required and the hex is lower case, as GitHub sends it.
	"github": {
		name:  "github",
		media: mediaJSON | mediaForm,
		sig: sigSpec{
			sets:   []headerSet{{sig: hGitHubSig}},
			layout: layoutPlain, prefix: "sha256=",
			alg: sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{body},
		},
		id:          mustRules("header:X-GitHub-Delivery"),
		typ:         mustRules("header:X-GitHub-Event"),
		formPayload: true,
		jsonBody:    true,
		signID:      randomUUID,
		signType:    []string{hGitHubEvent, "ping"},
	},
	// Shopify's Events webhooks use the un-prefixed shopify-* names; when both are sent the
	// library reads those (shopify-app-js webhooks/validate.ts detectWebhookType).
	"shopify": {
		name:  "shopify",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hShopifyEvSig}, {sig: hShopifySig}},
			layout: layoutPlain,
			alg:    sha256.New, size: sha256.Size, enc: encBase64,
			content: []part{body},
		},
		id:        mustRules("header:X-Shopify-Webhook-Id", "header:shopify-webhook-id"),
		typ:       mustRules("header:X-Shopify-Topic", "header:shopify-topic"),
		signSet:   1,
		needsBody: true,
		jsonBody:  true,
		signID:    randomUUID,
		signType:  []string{hShopifyTopic, "shop/update"},
	},
	// Events API bodies are JSON; slash commands and interactivity are forms, the latter
	// with its JSON in payload=. python-slack-sdk and slack-go refuse timestamps both ways;
	// bolt-js refuses only old ones.
	"slack": {
		name:  "slack",
		media: mediaJSON | mediaForm,
		sig: sigSpec{
			sets:   []headerSet{{sig: hSlackSig, ts: hSlackTS}},
			layout: layoutPlain, prefix: "v0=",
			alg: sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{lit("v0:"), ts, lit(":"), body},
			ts:      tsSpec{from: tsHeader, unit: unitSeconds},
		},
		id:          mustRules("json:/event_id", "sha256"),
		typ:         mustRules("json:/event/type", "json:/type"),
		formID:      mustRules("sha256"),
		formTyp:     mustRules("json:/type", "form:command"),
		formPayload: true,
		jsonBody:    true,
		challenge:   challengeSlack,
	},
	"twilio": {
		name:     "twilio",
		media:    mediaJSON | mediaForm,
		special:  verifyTwilio,
		sig:      sigSpec{alg: sha1.New, size: sha1.Size},
		needsURL: true,
		id:       mustRules("form:MessageSid", "form:CallSid", "form:SmsSid", "sha256"),
		jsonBody: true,
	},
	// The Node SDK keeps only the last h1 of a repeated key; every h1 is tried here, the
	// rotation behaviour SPEC asks for. Its 5-second window gives way to the source's tolerance.
	"paddle": {
		name:  "paddle",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hPaddleSig}},
			layout: layoutPairs, pairSep: ';', tsKey: "ts", sigKey: "h1",
			alg: sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{ts, lit(":"), body},
			ts:      tsSpec{from: tsPair, unit: unitSeconds},
		},
		id:       mustRules("json:/event_id"),
		typ:      mustRules("json:/event_type"),
		jsonBody: true,
	},
	"square": {
		name:  "square",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hSquareSig}},
			layout: layoutPlain,
			alg:    sha256.New, size: sha256.Size, enc: encBase64,
			content: []part{pubURL, body},
		},
		needsURL: true,
		id:       mustRules("json:/event_id"),
		typ:      mustRules("json:/type"),
		jsonBody: true,
	},
	// v3 only. hubspot-api-python refuses only old timestamps (300 s); both ways here.
	"hubspot": {
		name:  "hubspot",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hHubSpotSig, ts: hHubSpotTS}},
			layout: layoutPlain,
			alg:    sha256.New, size: sha256.Size, enc: encBase64,
			content: []part{method, pubURL, body, ts},
			ts:      tsSpec{from: tsHeader, unit: unitMillis},
		},
		needsURL: true,
		id:       mustRules("sha256"),
		jsonBody: true,
	},
	// The SDK (linear/linear packages/sdk/src/webhooks/client.ts) takes webhookTimestamp
	// from the body, else the linear-timestamp header, and skips the check when neither is
	// there; here a delivery without one is refused, since the window is the only replay
	// guard Linear offers.
	"linear": {
		name:  "linear",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hLinearSig}},
			layout: layoutPlain,
			alg:    sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{body},
			ts:      tsSpec{from: tsBody, unit: unitMillis, field: []pointer{mustPointer("/webhookTimestamp")}, fallback: hLinearTS},
		},
		id:       mustRules("header:Linear-Delivery"),
		typ:      mustRules("header:Linear-Event"),
		jsonBody: true,
		signID:   randomUUID,
		signType: []string{hLinearEvent, "Issue"},
	},
	"zoom": {
		name:  "zoom",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hZoomSig, ts: hZoomTS}},
			layout: layoutPlain, prefix: "v0=",
			alg: sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{lit("v0:"), ts, lit(":"), body},
			ts:      tsSpec{from: tsHeader, unit: unitSeconds},
		},
		id:        mustRules("sha256"),
		typ:       mustRules("json:/event"),
		jsonBody:  true,
		challenge: challengeZoom,
	},
	"twitch": {
		name:  "twitch",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hTwitchSig, ts: hTwitchTS, id: hTwitchID}},
			layout: layoutPlain, prefix: "sha256=",
			alg: sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{id, ts, body},
			ts:      tsSpec{from: tsHeader, unit: unitRFC3339},
		},
		id:        mustRules("header:Twitch-Eventsub-Message-Id"),
		typ:       mustRules("header:Twitch-Eventsub-Subscription-Type"),
		jsonBody:  true,
		challenge: challengeTwitch,
		signID:    randomUUID,
		signType:  []string{hTwitchType, "notification", hTwitchSubType, "channel.update"},
	},
	// discord-interactions-js checks no timestamp; the signed X-Signature-Timestamp is
	// held to the tolerance here, as SPEC holds every signed timestamp.
	"discord": {
		name:      "discord",
		media:     mediaJSON,
		special:   verifyDiscord,
		key:       keyPublicKey,
		id:        mustRules("json:/id"),
		typ:       mustRules("json:/type"),
		jsonBody:  true,
		challenge: challengeDiscord,
	},
	"typeform": {
		name:  "typeform",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hTypeformSig}},
			layout: layoutPlain, prefix: "sha256=",
			alg: sha256.New, size: sha256.Size, enc: encBase64,
			content: []part{body},
		},
		id:       mustRules("json:/event_id"),
		typ:      mustRules("json:/event_type"),
		jsonBody: true,
	},
	"intercom": {
		name:  "intercom",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hIntercomSig}},
			layout: layoutPlain, prefix: "sha1=",
			alg: sha1.New, size: sha1.Size, enc: encHexLower,
			content: []part{body},
		},
		id:       mustRules("json:/id"),
		typ:      mustRules("json:/topic"),
		jsonBody: true,
	},
	// Mailgun signs timestamp+token, not the body: the token is the id, so a replay of a
	// signature with another event-data is a conflict on that id, never a second message.
	// mailgun-go checks no timestamp; the tolerance applies here.
	"mailgun": {
		name:     "mailgun",
		media:    mediaJSON,
		special:  verifyMailgun,
		sig:      sigSpec{alg: sha256.New, size: sha256.Size},
		id:       mustRules("json:/signature/token"),
		typ:      mustRules("json:/event-data/event"),
		jsonBody: true,
	},
	"calendly": {
		name:  "calendly",
		media: mediaJSON,
		sig: sigSpec{
			sets:   []headerSet{{sig: hCalendlySig}},
			layout: layoutPairs, pairSep: ',', tsKey: "t", sigKey: "v1",
			alg: sha256.New, size: sha256.Size, enc: encHexLower,
			content: []part{ts, lit("."), body},
			ts:      tsSpec{from: tsPair, unit: unitSeconds},
		},
		id:       mustRules("sha256"),
		typ:      mustRules("json:/event"),
		jsonBody: true,
	},
}

// aliases are other names of a preset.
var aliases = map[string]string{"svix": "standard-webhooks"}

// hmacAlgorithms are the generic scheme's algorithms.
var hmacAlgorithms = map[string]struct {
	alg  func() hash.Hash
	size int
}{
	"sha1":   {sha1.New, sha1.Size},
	"sha256": {sha256.New, sha256.Size},
	"sha512": {sha512.New, sha512.Size},
}

// genericPreset is the `hmac` scheme built from a source's header, algorithm, encoding and
// prefix: a MAC of the body alone, in either case of hex (the sender is unknown).
func genericPreset(header, alg, enc, prefix string) *preset {
	a := hmacAlgorithms[alg]
	e := encHexAny
	if enc == "base64" {
		e = encBase64
	}
	return &preset{
		name:  "hmac",
		media: mediaAny,
		sig: sigSpec{
			sets:   []headerSet{{sig: http.CanonicalHeaderKey(header)}},
			layout: layoutPlain, prefix: prefix,
			alg: a.alg, size: a.size, enc: e,
			content: []part{body},
		},
		id: mustRules("sha256"),
	}
}

// Names lists the provider names New accepts, presets and aliases, sorted.
func Names() []string {
	names := []string{"hmac"}
	for n := range presets {
		names = append(names, n)
	}
	for n := range aliases {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
