package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// sample is a small delivery of one provider, shaped as the provider documents it, so that
// `hookctl send --source NAME --provider P` without a body stores a message that reads like
// P's: the fields the preset takes the id and type from are there, with ids made fresh on
// every call (so two sends are two messages, as with --id unset), and the event is one P
// really sends. Providers whose id is a header (GitHub, Shopify, Linear, Twitch, Standard
// Webhooks) get it from provider.Sign, with the event type where the preset reads it from a
// header.
type sample struct {
	contentType string
	body        func(now time.Time) string
}

const (
	jsonType = "application/json"
	formType = "application/x-www-form-urlencoded"
)

// samples has one entry per name in provider.Names() but hookvault, whose message --id,
// --sender and --content build; TestSamplesCoverEveryProvider keeps it so.
var samples = map[string]sample{
	"standard-webhooks": {jsonType, standardWebhooksSample},
	"svix":              {jsonType, standardWebhooksSample},
	// A ping: what GitHub sends first to a new webhook (X-GitHub-Event: ping).
	"github": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"zen":"Design for failure.","hook_id":%d,"hook":{"type":"Repository","id":%[1]d,"name":"web","active":true,`+
			`"events":["push","pull_request"],"config":{"content_type":"json","insecure_ssl":"0"},"created_at":%s},`+
			`"repository":{"id":1296269,"name":"Hello-World","full_name":"octocat/Hello-World","private":false},`+
			`"sender":{"login":"octocat","id":1,"type":"User"}}`, randomInt(1e9), jsonText(now.UTC().Format(time.RFC3339)))
	}},
	"stripe": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"id":"evt_%s","object":"event","api_version":"2024-06-20","created":%d,`+
			`"data":{"object":{"id":"pi_%s","object":"payment_intent","amount":2000,"currency":"usd","status":"succeeded"}},`+
			`"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"payment_intent.succeeded"}`,
			randomAlnum(24), now.Unix(), randomAlnum(24))
	}},
	// X-Shopify-Topic: shop/update.
	"shopify": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"id":%d,"name":"hookctl test shop","email":"owner@example.com","domain":"hookctl-test.myshopify.com",`+
			`"currency":"USD","updated_at":%s}`, randomInt(1e11), jsonText(now.UTC().Format(time.RFC3339)))
	}},
	// An Events API delivery; a slash command is a form: --data 'command=/deploy&text=now'.
	"slack": {jsonType, func(now time.Time) string {
		ts := fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
		return fmt.Sprintf(`{"team_id":"T0001","api_app_id":"A0001","event":{"type":"app_mention","user":"U0001",`+
			`"text":"<@U0002> hello from hookctl","ts":%s,"channel":"C0001","event_ts":%[1]s},`+
			`"type":"event_callback","event_id":"Ev%s","event_time":%d}`, jsonText(ts), randomUpper(10), now.Unix())
	}},
	// An incoming SMS, as Twilio posts it to a messaging webhook.
	"twilio": {formType, func(time.Time) string {
		sid := "SM" + randomHex(16)
		return url.Values{
			"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "AccountSid": {"AC" + randomHex(16)},
			"From": {"+15017122661"}, "To": {"+15005550006"}, "Body": {"Hello from hookctl"},
			"NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
		}.Encode()
	}},
	"paddle": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"event_id":"evt_%s","event_type":"transaction.completed","occurred_at":%s,"notification_id":"ntf_%s",`+
			`"data":{"id":"txn_%s","status":"completed","currency_code":"USD","details":{"totals":{"total":"2000","currency_code":"USD"}}}}`,
			randomLower(26), jsonText(now.UTC().Format(time.RFC3339Nano)), randomLower(26), randomLower(26))
	}},
	"square": {jsonType, func(now time.Time) string {
		at := jsonText(now.UTC().Format(time.RFC3339Nano))
		return fmt.Sprintf(`{"merchant_id":"6SSW7HV8K2ST5","type":"payment.updated","event_id":%s,"created_at":%s,`+
			`"data":{"type":"payment","id":"%s","object":{"payment":{"id":"%[3]s","amount_money":{"amount":2000,"currency":"USD"},`+
			`"status":"COMPLETED","created_at":%[2]s,"updated_at":%[2]s}}}}`, jsonText(randomUUID()), at, randomAlnum(22))
	}},
	// HubSpot's v3 webhooks post a batch: a JSON array of events.
	"hubspot": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`[{"eventId":%d,"subscriptionId":2011183,"portalId":62515,"appId":1160452,"occurredAt":%d,`+
			`"subscriptionType":"contact.creation","attemptNumber":0,"objectId":%d,"changeFlag":"CREATED","changeSource":"CRM"}]`,
			randomInt(1e10), now.UnixMilli(), randomInt(1e10))
	}},
	// Linear-Event: Issue; provider.Sign sets webhookTimestamp to the time of signing.
	"linear": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"action":"create","type":"Issue","createdAt":%s,"data":{"id":%s,"identifier":"ENG-1","title":"Try hookvault",`+
			`"priority":2,"teamId":%s},"url":"https://linear.app/example/issue/ENG-1/try-hookvault","organizationId":%s,`+
			`"webhookTimestamp":%d,"webhookId":%s}`, jsonText(now.UTC().Format(time.RFC3339Nano)), jsonText(randomUUID()),
			jsonText(randomUUID()), jsonText(randomUUID()), now.UnixMilli(), jsonText(randomUUID()))
	}},
	"zoom": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"event":"meeting.started","event_ts":%d,"payload":{"account_id":"%s","object":{"id":"%d",`+
			`"uuid":"%s==","host_id":"%s","topic":"hookctl test meeting","type":2,"start_time":%s,"timezone":"UTC","duration":30}}}`,
			now.UnixMilli(), randomAlnum(22), randomInt(1e10), randomAlnum(22), randomAlnum(22), jsonText(now.UTC().Format(time.RFC3339)))
	}},
	// A notification (Twitch-Eventsub-Message-Type) of a channel.update subscription.
	"twitch": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"subscription":{"id":%s,"type":"channel.update","version":"2","status":"enabled","cost":0,`+
			`"condition":{"broadcaster_user_id":"1337"},"transport":{"method":"webhook","callback":"https://hooks.example.com/webhook/twitch"},`+
			`"created_at":%s},"event":{"broadcaster_user_id":"1337","broadcaster_user_login":"cool_user","broadcaster_user_name":"Cool_User",`+
			`"title":"Best Stream Ever","language":"en","category_id":"12453","category_name":"Grand Theft Auto","content_classification_labels":[]}}`,
			jsonText(randomUUID()), jsonText(now.UTC().Format(time.RFC3339Nano)))
	}},
	// A slash command (type 2, APPLICATION_COMMAND): a PING (type 1) is answered, not stored.
	"discord": {jsonType, func(time.Time) string {
		return fmt.Sprintf(`{"id":"%d","application_id":"%d","type":2,"data":{"id":"%d","name":"hello","type":1},`+
			`"guild_id":"%d","channel_id":"%d","member":{"user":{"id":"%d","username":"hookctl","global_name":"hookctl"},"roles":[]},`+
			`"token":"%s","version":1,"locale":"en-US"}`,
			snowflake(), snowflake(), snowflake(), snowflake(), snowflake(), snowflake(), randomAlnum(32))
	}},
	"typeform": {jsonType, func(now time.Time) string {
		at := jsonText(now.UTC().Format(time.RFC3339))
		return fmt.Sprintf(`{"event_id":"01%s","event_type":"form_response","form_response":{"form_id":"lT4Z3j","token":"%s",`+
			`"landed_at":%s,"submitted_at":%[3]s,"definition":{"id":"lT4Z3j","title":"hookctl test form",`+
			`"fields":[{"id":"DlXFaesGBpoF","title":"How did you hear about us?","type":"short_text","ref":"source"}]},`+
			`"answers":[{"type":"text","text":"From hookctl","field":{"id":"DlXFaesGBpoF","type":"short_text","ref":"source"}}]}}`,
			randomUpper(24), randomLower(32), at)
	}},
	// The ping Intercom sends from the Developer Hub.
	"intercom": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"type":"notification_event","app_id":"abc123","data":{"type":"notification_event_data",`+
			`"item":{"type":"ping","message":"Hello from hookctl"}},"links":{},"id":"notif_%s","topic":"ping",`+
			`"delivery_status":"pending","delivery_attempts":1,"delivered_at":0,"first_sent_at":%d,"created_at":%[2]d,"self":null}`,
			randomUUID(), now.Unix())
	}},
	// provider.Sign adds the signature object, whose token is the id.
	"mailgun": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"event-data":{"id":"%s","timestamp":%d.%06d,"log-level":"info","event":"delivered",`+
			`"recipient":"alice@example.com","message":{"headers":{"to":"alice@example.com","message-id":"%s@example.com",`+
			`"from":"hookctl@example.com","subject":"Hello from hookctl"}}}}`,
			randomAlnum(22), now.Unix(), now.Nanosecond()/1000, randomHex(10))
	}},
	"calendly": {jsonType, func(now time.Time) string {
		at := jsonText(now.UTC().Format(time.RFC3339Nano))
		event := "https://api.calendly.com/scheduled_events/" + randomUpper(16)
		return fmt.Sprintf(`{"created_at":%s,"created_by":"https://api.calendly.com/users/AAAAAAAAAAAAAAAA","event":"invitee.created",`+
			`"payload":{"email":"alice@example.com","name":"Alice","status":"active","uri":%s,`+
			`"scheduled_event":{"name":"30 Minute Meeting","start_time":%[1]s,"uri":%s}}}`,
			at, jsonText(event+"/invitees/"+randomUpper(16)), jsonText(event))
	}},
	// The generic scheme: an event of your own app. Its id is the body's sha256 unless the
	// source's id rule says otherwise.
	"hmac": {jsonType, func(now time.Time) string {
		return fmt.Sprintf(`{"id":"%s","event":"hookctl.test","created_at":%s}`,
			randomAlnum(16), jsonText(now.UTC().Format(time.RFC3339Nano)))
	}},
}

func standardWebhooksSample(now time.Time) string {
	return fmt.Sprintf(`{"type":"user.created","timestamp":%s,"data":{"id":"user_%s","email":"alice@example.com"}}`,
		jsonText(now.UTC().Format(time.RFC3339Nano)), randomAlnum(24))
}

// jsonText is s as a JSON string.
func jsonText(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b)
}

// randomFrom is n characters drawn from alphabet.
func randomFrom(alphabet string, n int) string {
	var sb strings.Builder
	for range n {
		i, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		sb.WriteByte(alphabet[i.Int64()])
	}
	return sb.String()
}

func randomAlnum(n int) string {
	return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n)
}
func randomLower(n int) string { return randomFrom("abcdefghijklmnopqrstuvwxyz0123456789", n) }
func randomUpper(n int) string { return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n) }

// randomInt is a number in [0, n).
func randomInt(n int64) int64 {
	i, _ := rand.Int(rand.Reader, big.NewInt(n))
	return i.Int64()
}

// snowflake is a number of the size of Discord's ids.
func snowflake() int64 { return 1e18 + randomInt(1e17) }

// randomUUID is a version 4 UUID.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
