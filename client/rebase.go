package client

import "strings"

// SetURL replaces the method's URL: relative to the base URL, or absolute
// (http:// or https://), which ignores the base. With [Method.SetBaseURL] it
// lets [Options.BeforeRequest] route a send elsewhere (alova's beforeRequest
// may change method.url and method.baseURL). The cache key follows the final
// URL: a send rerouted by BeforeRequest is cached under the URL it went to.
func (m *Method) SetURL(url string) *Method {
	m.path = url
	m.reset()
	return m
}

// SetBaseURL replaces the base URL this method is joined to, which is
// otherwise the client's [Options.BaseURL] (one trailing "/" trimmed, as
// there). See [Method.SetURL].
func (m *Method) SetBaseURL(base string) *Method {
	x := m.ext()
	x.base, x.hasBase = strings.TrimSuffix(base, "/"), true
	m.reset()
	return m
}
