package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/alovago/alova/middleware"
)

// decode reads r's body into v: a JSON object with no unknown field and
// nothing after it, of at most h.maxBody bytes, sent as JSON. It answers the
// error itself and returns false when the body is refused.
func (h *captchaHandler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		middleware.WriteError(w, http.StatusUnsupportedMediaType, middleware.Error{Code: CodeUnsupportedMediaType,
			Message: "send the body as application/json"})
		return false
	}
	if r.ContentLength > h.maxBody {
		tooLarge(w)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
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
		return true
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		tooLarge(w)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		middleware.WriteError(w, http.StatusBadRequest, middleware.Error{Code: CodeUnknownField,
			Message: "the body has a field this endpoint does not take"})
	default:
		middleware.WriteError(w, http.StatusBadRequest, middleware.Error{Code: CodeInvalidJSON,
			Message: "the body must be one JSON object with string fields"})
	}
	return false
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
