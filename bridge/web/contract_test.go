package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// contract is openapi.json, ready to check answers against: every answer of
// a test server (newRealServer, newPageServer) must be one the document
// describes for its route and status, with a documented media type, and a
// JSON body must validate against the documented schema, problems included.
type contract struct {
	doc      openAPIDoc
	url      string // where the document is registered with the compiler
	compiler *jsonschema.Compiler
	routes   *http.ServeMux // the documented operations, by pattern

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by JSON pointer
}

type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Responses map[string]openAPIResponse `json:"responses"`
	} `json:"components"`
}

type openAPIResponse struct {
	Ref     string                     `json:"$ref"`
	Content map[string]json.RawMessage `json:"content"`
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	c := &contract{schemas: map[string]*jsonschema.Schema{}, routes: http.NewServeMux()}
	if err := json.Unmarshal(raw, &c.doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	whole, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if c.url, err = filepath.Abs("openapi.json"); err != nil {
		return nil, err
	}
	c.compiler = jsonschema.NewCompiler()
	c.compiler.AssertFormat()
	if err := c.compiler.AddResource(c.url, whole); err != nil {
		return nil, err
	}
	for path, ops := range c.doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			pattern := path
			if pattern == "/" {
				pattern = "/{$}"
			}
			c.routes.Handle(strings.ToUpper(method)+" "+pattern, http.NotFoundHandler())
		}
	}
	return c, nil
})

// pointerPart escapes one JSON pointer token.
func pointerPart(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// schema compiles the schema at a JSON pointer into the document, once.
func (c *contract) schema(pointer string) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sch, ok := c.schemas[pointer]; ok {
		return sch, nil
	}
	sch, err := c.compiler.Compile(c.url + "#" + pointer)
	if err != nil {
		return nil, err
	}
	c.schemas[pointer] = sch
	return sch, nil
}

// check returns what is wrong with an answer to r, or nil.
func (c *contract) check(r *http.Request, status int, header http.Header, body []byte) error {
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	probe := r.Clone(r.Context())
	probe.Method = method
	_, pattern := c.routes.Handler(probe)
	name := method + " " + r.URL.Path
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if pattern == "" {
		// No documented operation: the server's own answers to what it
		// does not serve, or refuses before routing, are problems.
		if status < 400 || mt != "application/problem+json" {
			return fmt.Errorf("%s is not documented, yet answered %d %s", name, status, mt)
		}
		return c.validate(name, "/components/schemas/Problem", body)
	}
	_, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	if path == "" {
		path = "/"
	}
	var responses map[string]openAPIResponse
	var op struct {
		Responses map[string]openAPIResponse `json:"responses"`
	}
	if err := json.Unmarshal(c.doc.Paths[path][strings.ToLower(method)], &op); err != nil {
		return fmt.Errorf("openapi.json, %s %s: %w", method, path, err)
	}
	responses = op.Responses
	code := strconv.Itoa(status)
	resp, ok := responses[code]
	if !ok {
		return fmt.Errorf("%s answered %d, which openapi.json does not document for %s %s", name, status, method, path)
	}
	pointer := "/paths/" + pointerPart(path) + "/" + strings.ToLower(method) + "/responses/" + code
	if ref, ok := strings.CutPrefix(resp.Ref, "#/components/responses/"); ok {
		resp, pointer = c.doc.Components.Responses[ref], "/components/responses/"+pointerPart(ref)
	}
	if len(resp.Content) == 0 {
		return nil // no body described (a redirect, an asset)
	}
	if _, ok := resp.Content[mt]; !ok {
		return fmt.Errorf("%s answered %d as %q; openapi.json documents %v", name, status, header.Get("Content-Type"), mediaTypes(resp.Content))
	}
	if (mt != "application/json" && mt != "application/problem+json") || (len(body) == 0 && r.Method == http.MethodHead) {
		return nil
	}
	return c.validate(fmt.Sprintf("%s (%d)", name, status), pointer+"/content/"+pointerPart(mt)+"/schema", body)
}

func (c *contract) validate(name, pointer string, body []byte) error {
	sch, err := c.schema(pointer)
	if err != nil {
		return fmt.Errorf("openapi.json, schema at %s: %w", pointer, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: the body is not JSON: %w; body %.300q", name, err, body)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s: the body does not match openapi.json (%s): %v\nbody: %.600s", name, pointer, err, body)
	}
	return nil
}

func mediaTypes(content map[string]json.RawMessage) []string {
	var out []string
	for mt := range content {
		out = append(out, mt)
	}
	return out
}

// checkAnswers wraps a server's handler so that every answer is checked
// against openapi.json once it is complete; a mismatch fails t. Answers of
// the extra handlers (Options.Extra) are theirs, not the API's.
func checkAnswers(t testing.TB, extra map[string]http.Handler) func(http.Handler) http.Handler {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	others := http.NewServeMux()
	for pattern := range extra {
		others.Handle(pattern, http.NotFoundHandler())
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, pattern := others.Handler(r); pattern != "" {
				next.ServeHTTP(w, r)
				return
			}
			rec := &answerRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if !rec.wrote {
				rec.status = http.StatusOK
			}
			if err := c.check(r, rec.status, w.Header(), rec.body.Bytes()); err != nil {
				t.Error(err)
			}
		})
	}
}

// answerRecorder passes an answer through and keeps its status and, for
// JSON, its body. Unwrap keeps http.ResponseController working.
type answerRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	keep   bool
	body   bytes.Buffer
}

func (a *answerRecorder) WriteHeader(code int) {
	a.record(code)
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerRecorder) record(code int) {
	if a.wrote {
		return
	}
	a.status, a.wrote = code, true
	mt, _, _ := mime.ParseMediaType(a.Header().Get("Content-Type"))
	a.keep = strings.HasSuffix(mt, "json")
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	a.record(http.StatusOK)
	if a.keep {
		a.body.Write(b)
	}
	return a.ResponseWriter.Write(b)
}

func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// Flush lets the event stream flush through the recorder.
func (a *answerRecorder) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
