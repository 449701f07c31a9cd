package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/zombi-dev/zombi/stats"
)

// The OpenAPI document (openapi.json) against the code: it is a valid
// OpenAPI 3.1 document, it lists exactly the routes gin serves, and every
// response the package's tests record conforms to it (validating wraps the
// handler of newEnv and newAuthEnv).

var loadAPIDoc = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(loader.Context)
})

var apiRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := loadAPIDoc()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

func TestOpenAPIDocumentValid(t *testing.T) {
	doc, err := loadAPIDoc()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q: want 3.1.0", doc.OpenAPI)
	}
	for _, name := range []string{"basicAuth", "bearerAuth", "mutualTLS"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %s missing", name)
		}
	}
	// Each operation has an id, a success response and the error schema
	// for its errors.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s: no operationId", method, path)
			}
			want := "#/components/schemas/Error"
			if isIcebergPath(path) {
				want = "#/components/schemas/IcebergErrorResponse" // the Iceberg REST spec's model
			}
			for code, r := range op.Responses.Map() {
				if code[0] == '4' && r.Value.Content.Get("application/json").Schema.Ref != want {
					t.Errorf("%s %s %s: not the %s schema", method, path, code, want)
				}
			}
		}
	}
	if _, err := apiRouter(); err != nil {
		t.Fatalf("router: %v", err)
	}
}

// Every schema of the document is a valid JSON Schema 2020-12 (the dialect
// of OpenAPI 3.1), checked against the draft's meta-schema by a second,
// independent implementation.
func TestOpenAPISchemasAreJSONSchema2020(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	whole, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDocument))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem://openapi.json", whole); err != nil {
		t.Fatal(err)
	}
	for name := range doc.Components.Schemas {
		sch, err := c.Compile("mem://openapi.json#/components/schemas/" + name)
		if err != nil {
			t.Errorf("schema %s: %v", name, err)
			continue
		}
		if name == "Error" {
			if err := sch.Validate(map[string]any{"error": "x"}); err != nil {
				t.Errorf("Error schema refuses an error: %v", err)
			}
			if err := sch.Validate(map[string]any{"message": "x"}); err == nil {
				t.Error("Error schema accepts anything")
			}
		}
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, err := loadAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(nil, stats.New(), Config{}, discardLogger(), false)
	engine := s.engine()
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		// gin's :param (and catch-all *param) is OpenAPI's {param}.
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		served[r.Method+" "+strings.Join(parts, "/")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for r := range documented {
		// headAsGet serves HEAD wherever GET is; the Iceberg catalog
		// documents its HEAD routes (they answer 204).
		if m, p, _ := strings.Cut(r, " "); m == "HEAD" && served["GET "+p] {
			continue
		}
		if !served[r] {
			t.Errorf("openapi.json documents %s, which is not a route", r)
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes: %v", len(served), slices.Sorted(func(yield func(string) bool) {
			for r := range served {
				if !yield(r) {
					return
				}
			}
		}))
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, Config{})
	code, body := e.do("GET", "/openapi.json", "", nil)
	if code != 200 || !bytes.Equal(body, openAPIDocument) {
		t.Fatalf("GET /openapi.json: %d, %d bytes", code, len(body))
	}
	// Public even when everything else needs credentials.
	a := secured(t)
	if code, _ := a.do("GET", "/openapi.json", "", nil); code != 200 {
		t.Fatalf("with authentication required: %d", code)
	}
	if code, _ := a.do("GET", "/tables", "", nil); code != 401 {
		t.Fatalf("GET /tables without credentials: %d", code)
	}
}

// validating wraps a handler so that every response is checked against
// openapi.json: a documented status and a body matching its schema, or,
// for a path or method the document does not have, the 404/405 error body.
func validating(t testing.TB, h http.Handler) http.Handler {
	router, err := apiRouter()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		if err := checkResponse(router, r, tw); err != nil {
			t.Errorf("response does not conform to openapi.json: %s %s -> %d: %v\nbody: %.500s", r.Method, r.URL.RequestURI(), tw.code(), err, tw.body.Bytes())
		}
	})
}

func checkResponse(router routers.Router, r *http.Request, tw *teeWriter) error {
	route, params, err := router.FindRoute(r)
	if err != nil {
		if !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			return err
		}
		// Authentication runs before routing: 401 comes first.
		if c := tw.code(); c != http.StatusNotFound && c != http.StatusMethodNotAllowed && c != http.StatusUnauthorized {
			return errors.New("a route missing from the document answered")
		}
		if isIcebergPath(r.URL.Path) {
			return checkIcebergError(tw.body.Bytes(), tw.code())
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(tw.body.Bytes(), &e) != nil || e.Error == "" {
			return errors.New("not the error body")
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 tw.code(),
		Header:                 tw.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(tw.body.Bytes())
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// teeWriter passes a response through and keeps a copy of it.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *teeWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// checkIcebergError: the Iceberg REST spec's error model, with the status
// as its code.
func checkIcebergError(body []byte, status int) error {
	var e struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code != status {
		return errors.New("not the Iceberg error body")
	}
	return nil
}
