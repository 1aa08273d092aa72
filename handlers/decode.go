package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/alovago/alova/middleware"
)

// request is a request body: fields lists its string fields.
type request interface{ fields() []*string }

// decode reads r's body into v: a JSON object with no unknown field and
// nothing after it, of at most h.maxBody bytes of valid UTF-8, sent as JSON,
// whose strings hold no U+FFFD. It answers the error itself and returns
// false when the body is refused.
//
// encoding/json turns invalid UTF-8 and lone surrogate escapes ("\ud800")
// into U+FFFD, so distinct raw inputs would decode to one key: such bodies
// are refused rather than repaired.
func (h *captchaHandler) decode(w http.ResponseWriter, r *http.Request, v request) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		middleware.WriteError(w, http.StatusUnsupportedMediaType, middleware.Error{Code: CodeUnsupportedMediaType,
			Message: "send the body as application/json"})
		return false
	}
	if r.ContentLength > h.maxBody {
		tooLarge(w)
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		tooLarge(w)
		return false
	case err != nil || !utf8.Valid(body):
		invalidJSON(w)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		// Exactly one value: only white space may follow.
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				err = errTrailing
			}
		}
	}
	if err == nil {
		for _, f := range v.fields() {
			if f != nil && strings.ContainsRune(*f, utf8.RuneError) {
				invalidJSON(w)
				return false
			}
		}
		return true
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		middleware.WriteError(w, http.StatusBadRequest, middleware.Error{Code: CodeUnknownField,
			Message: "the body has a field this endpoint does not take"})
	} else {
		invalidJSON(w)
	}
	return false
}

func invalidJSON(w http.ResponseWriter) {
	middleware.WriteError(w, http.StatusBadRequest, middleware.Error{Code: CodeInvalidJSON,
		Message: "the body must be one JSON object with string fields, in valid UTF-8"})
}

var errTrailing = errors.New("handlers: data after the JSON value")

func tooLarge(w http.ResponseWriter) {
	middleware.WriteError(w, http.StatusRequestEntityTooLarge, middleware.Error{Code: CodeBodyTooLarge,
		Message: "the body is too large"})
}

// isJSON reports whether a Content-Type is application/json or
// application/*+json, in UTF-8 (the only charset JSON allows, RFC 8259).
func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}
