package apitest

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/printer"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite api.txt with the API as it is")

// TestAPIUnchanged compares the exported API of the library's packages,
// one declaration a line as it would compile, with api.txt: a change to
// the API, even a field's type, fails here until api.txt is rewritten with
// -update and the diff committed with it.
func TestAPIUnchanged(t *testing.T) {
	var b strings.Builder
	for _, dir := range packages {
		p, fset := parsePackage(t, dir)
		lines := apiLines(p, fset)
		fmt.Fprintf(&b, "# %s (%d)\n", dir, len(lines))
		for _, l := range lines {
			fmt.Fprintf(&b, "%s\n", l)
		}
	}
	got := b.String()
	const file = "../../api.txt"
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/apitest -update to write it)", err)
	}
	if got == string(want) {
		return
	}
	gotL, wantL := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for _, l := range wantL {
		if !slices.Contains(gotL, l) {
			t.Errorf("gone from the API: %s", l)
		}
	}
	for _, l := range gotL {
		if !slices.Contains(wantL, l) {
			t.Errorf("new in the API: %s", l)
		}
	}
	t.Error("the exported API differs from api.txt: if the change is deliberate, run go test ./internal/apitest -update and commit api.txt with it")
}

// apiLines returns p's exported declarations, one a line, sorted: consts
// and vars by name and type, funcs and methods by signature, types by
// their definition with unexported fields left out.
func apiLines(p *doc.Package, fset *token.FileSet) []string {
	var out []string
	node := func(n any) string {
		var buf bytes.Buffer
		if err := (&printer.Config{Mode: printer.RawFormat}).Fprint(&buf, fset, n); err != nil {
			panic(err)
		}
		return strings.Join(strings.Fields(buf.String()), " ")
	}
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			for _, spec := range v.Decl.Specs {
				vs := spec.(*ast.ValueSpec)
				for _, n := range vs.Names {
					if !n.IsExported() {
						continue
					}
					l := v.Decl.Tok.String() + " " + n.Name
					if vs.Type != nil {
						l += " " + node(vs.Type)
					}
					out = append(out, l)
				}
			}
		}
	}
	funcs := func(fs []*doc.Func) {
		for _, f := range fs {
			d := *f.Decl
			d.Doc, d.Body = nil, nil
			out = append(out, node(&d))
		}
	}
	values(p.Consts)
	values(p.Vars)
	funcs(p.Funcs)
	for _, typ := range p.Types {
		for _, spec := range typ.Decl.Specs {
			ts := spec.(*ast.TypeSpec)
			if !ts.Name.IsExported() {
				continue
			}
			cp := *ts
			cp.Doc, cp.Comment = nil, nil
			if st, ok := ts.Type.(*ast.StructType); ok {
				fields := &ast.FieldList{}
				for _, f := range st.Fields.List {
					var names []*ast.Ident
					for _, n := range f.Names {
						if n.IsExported() {
							names = append(names, n)
						}
					}
					if len(f.Names) > 0 && len(names) == 0 {
						continue
					}
					fields.List = append(fields.List, &ast.Field{Names: names, Type: f.Type})
				}
				cp.Type = &ast.StructType{Fields: fields}
			}
			if it, ok := ts.Type.(*ast.InterfaceType); ok {
				methods := &ast.FieldList{}
				for _, f := range it.Methods.List {
					methods.List = append(methods.List, &ast.Field{Names: f.Names, Type: f.Type})
				}
				cp.Type = &ast.InterfaceType{Methods: methods}
			}
			out = append(out, "type "+node(&cp))
		}
		values(typ.Consts)
		values(typ.Vars)
		funcs(typ.Funcs)
		funcs(typ.Methods)
	}
	slices.Sort(out)
	return out
}
