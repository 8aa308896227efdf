package addon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// broker is the MQTT broker the Supervisor hands out to add-ons that declare
// the mqtt service.
type broker struct {
	host     string
	port     int
	ssl      bool
	username string
	password bridge.Secret
}

// url is the broker address in the form bridge/config's MQTT_URL expects.
func (b broker) url() string {
	scheme := "tcp"
	if b.ssl {
		scheme = "ssl"
	}
	return scheme + "://" + net.JoinHostPort(b.host, strconv.Itoa(b.port))
}

// serviceAnswer is the Supervisor's reply to GET /services/mqtt:
// {"result":"ok","data":{...}} or {"result":"error","message":"..."}.
type serviceAnswer struct {
	Result  string `json:"result"`
	Message string `json:"message"`
	Data    struct {
		Host     string          `json:"host"`
		Port     json.RawMessage `json:"port"` // a number, or a string holding one
		SSL      bool            `json:"ssl"`
		Username string          `json:"username"`
		Password string          `json:"password"`
		Protocol string          `json:"protocol"`
	} `json:"data"`
}

// unavailable is an answer worth waiting out: no broker yet ("Service not
// enabled"), a 5xx, or a Supervisor that cannot be reached yet.
type unavailable struct{ reason string }

func (u *unavailable) Error() string { return u.reason }

// askSupervisor makes one request for the MQTT service. It returns an
// *unavailable error for answers that may change by waiting and a plain error
// for those that will not.
func (e *environment) askSupervisor(ctx context.Context) (broker, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.opts.SupervisorURL, "/")+"/services/mqtt", nil)
	if err != nil {
		return broker{}, fmt.Errorf("supervisor URL: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+e.opts.SupervisorToken.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return broker{}, ctx.Err()
		}
		return broker{}, &unavailable{reason: "the Supervisor cannot be reached: " + err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return broker{}, &unavailable{reason: "reading the Supervisor's answer: " + err.Error()}
	}
	var answer serviceAnswer
	jsonErr := json.Unmarshal(body, &answer)

	switch {
	case resp.StatusCode == http.StatusForbidden:
		return broker{}, errors.New("the Supervisor refused the MQTT service (403): the add-on's config.yaml lacks `services: [\"mqtt:need\"]`; set the mqtt_url option to use a broker by hand")
	case resp.StatusCode == http.StatusUnauthorized:
		return broker{}, errors.New("the Supervisor rejected the add-on's SUPERVISOR_TOKEN (401)")
	case resp.StatusCode >= 500:
		return broker{}, &unavailable{reason: fmt.Sprintf("the Supervisor answered %s", resp.Status)}
	case strings.Contains(strings.ToLower(answer.Message), "not enabled"):
		return broker{}, &unavailable{reason: "no MQTT broker is set up in Home Assistant yet: install and start the Mosquitto broker add-on, or set the mqtt_url option"}
	case resp.StatusCode != http.StatusOK:
		return broker{}, fmt.Errorf("the Supervisor answered %s to the MQTT service request: %s", resp.Status, answer.Message)
	case jsonErr != nil:
		return broker{}, fmt.Errorf("the Supervisor's MQTT service answer is not JSON: %w", jsonErr)
	case answer.Result != "ok":
		return broker{}, fmt.Errorf("the Supervisor's MQTT service answered %q: %s", answer.Result, answer.Message)
	}

	port, err := parsePort(answer.Data.Port)
	if err != nil {
		return broker{}, fmt.Errorf("the Supervisor's MQTT service: %w", err)
	}
	if answer.Data.Host == "" {
		return broker{}, errors.New("the Supervisor's MQTT service names no host")
	}
	return broker{
		host:     answer.Data.Host,
		port:     port,
		ssl:      answer.Data.SSL,
		username: answer.Data.Username,
		password: bridge.Secret(answer.Data.Password),
	}, nil
}

// parsePort accepts a port as a JSON number (1883) or string ("1883").
func parsePort(raw json.RawMessage) (int, error) {
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		text = string(raw)
	}
	port, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("port %s is not a port number", raw)
	}
	return port, nil
}

// supervisorBroker asks the Supervisor for the MQTT broker until it names one,
// waiting between attempts with a doubling backoff capped at MaxBackoff while
// the answer is one that may change. It gives up on other answers and when ctx
// ends, wrapping ctx's error.
func (e *environment) supervisorBroker(ctx context.Context) (broker, error) {
	wait := e.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		b, err := e.askSupervisor(ctx)
		var u *unavailable
		if !errors.As(err, &u) {
			return b, err
		}
		e.log.Warn("waiting for the MQTT broker", "reason", u.reason, "attempt", attempt, "retry_in", wait)
		if err := e.opts.Sleep(ctx, wait); err != nil {
			return broker{}, fmt.Errorf("waiting for the MQTT broker (%s): %w", u.reason, err)
		}
		wait = min(2*wait, e.opts.MaxBackoff)
	}
}

// selfInfoAnswer is the part of the Supervisor's reply to GET
// /addons/self/info that the add-on reads.
type selfInfoAnswer struct {
	Result  string `json:"result"`
	Message string `json:"message"`
	Data    struct {
		Slug string `json:"slug"`
	} `json:"data"`
}

// validSlug is what an installed add-on's slug may hold (the repository's
// hash or "local", an underscore, the slug of config.yaml): the Supervisor's
// slug characters, and nothing that could leave the ingress path.
var validSlug = regexp.MustCompile(`^[A-Za-z0-9][-_.A-Za-z0-9]{0,99}$`)

// askSlug asks the Supervisor for this add-on's installed slug, such as
// local_nuki_invites or a0d7b954_nuki_invites, which names its ingress page.
// Every add-on may read its own info; no hassio_api is needed.
func (e *environment) askSlug(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.opts.SupervisorURL, "/")+"/addons/self/info", nil)
	if err != nil {
		return "", fmt.Errorf("supervisor URL: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+e.opts.SupervisorToken.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("the Supervisor cannot be reached: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading the Supervisor's answer: %w", err)
	}
	var answer selfInfoAnswer
	jsonErr := json.Unmarshal(body, &answer)
	switch {
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("the Supervisor answered %s to the add-on info request: %s", resp.Status, answer.Message)
	case jsonErr != nil:
		return "", fmt.Errorf("the Supervisor's add-on info is not JSON: %w", jsonErr)
	case answer.Result != "ok":
		return "", fmt.Errorf("the Supervisor's add-on info answered %q: %s", answer.Result, answer.Message)
	case !validSlug.MatchString(answer.Data.Slug):
		return "", fmt.Errorf("the Supervisor's add-on info names the slug %.80q, which is not an add-on slug", answer.Data.Slug)
	}
	return answer.Data.Slug, nil
}
