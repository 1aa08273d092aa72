package apitest

import (
	"go/ast"
	"go/doc"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The library's packages whose docs users read.
var packages = []string{"cache", "client", "middleware", "captcha", "handlers", "ratelimit", "lock", "alovaotel"}

// unresolved matches what is left of a doc link that did not resolve: the
// comment parser keeps it as plain text with its brackets.
var unresolved = regexp.MustCompile(`\[\*?[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\]`)

// TestDocLinksResolve parses each package as go doc does and fails on
// every [Name] in a doc comment that links nowhere: a renamed or
// unexported name leaves such a link behind.
func TestDocLinksResolve(t *testing.T) {
	for _, dir := range packages {
		t.Run(dir, func(t *testing.T) {
			p, _ := parsePackage(t, dir)
			pr := p.Parser()
			check := func(where, text string) {
				if text == "" {
					return
				}
				for _, bad := range plainLinks(pr.Parse(text)) {
					t.Errorf("%s: doc link %s resolves to nothing", where, bad)
				}
			}
			check("package doc", p.Doc)
			for _, c := range p.Consts {
				check(strings.Join(c.Names, ", "), c.Doc)
			}
			for _, v := range p.Vars {
				check(strings.Join(v.Names, ", "), v.Doc)
			}
			for _, f := range p.Funcs {
				check(f.Name, f.Doc)
			}
			for _, typ := range p.Types {
				check(typ.Name, typ.Doc)
				for _, f := range typ.Funcs {
					check(f.Name, f.Doc)
				}
				for _, m := range typ.Methods {
					check(typ.Name+"."+m.Name, m.Doc)
				}
				for _, c := range typ.Consts {
					check(strings.Join(c.Names, ", "), c.Doc)
				}
				for _, v := range typ.Vars {
					check(strings.Join(v.Names, ", "), v.Doc)
				}
				// Field and interface-method comments show in go doc too.
				for _, spec := range typ.Decl.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok {
						continue
					}
					var fields *ast.FieldList
					switch tt := ts.Type.(type) {
					case *ast.StructType:
						fields = tt.Fields
					case *ast.InterfaceType:
						fields = tt.Methods
					}
					if fields == nil {
						continue
					}
					for _, fl := range fields.List {
						if len(fl.Names) > 0 && !fl.Names[0].IsExported() {
							continue
						}
						check(typ.Name+" field", fl.Doc.Text())
					}
				}
			}
		})
	}
}

// parsePackage parses the package in dir (relative to the repository's
// root) as go doc does, leaving its tests out.
func parsePackage(t *testing.T, dir string) (*doc.Package, *token.FileSet) {
	t.Helper()
	root := filepath.Join("..", "..", dir)
	fset := token.NewFileSet()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, name), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/alovago/alova/"+dir)
	if err != nil {
		t.Fatal(err)
	}
	return p, fset
}

// plainLinks returns the link-shaped texts left in d's plain text: links
// the parser could not resolve. Code blocks are skipped.
func plainLinks(d *comment.Doc) []string {
	var out []string
	var walk func(ts []comment.Text)
	walk = func(ts []comment.Text) {
		for _, t := range ts {
			switch t := t.(type) {
			case comment.Plain:
				out = append(out, unresolved.FindAllString(string(t), -1)...)
			case comment.Italic:
				out = append(out, unresolved.FindAllString(string(t), -1)...)
			case *comment.Link:
				walk(t.Text)
			}
		}
	}
	for _, b := range d.Content {
		switch b := b.(type) {
		case *comment.Paragraph:
			walk(b.Text)
		case *comment.Heading:
			walk(b.Text)
		case *comment.List:
			for _, it := range b.Items {
				for _, c := range it.Content {
					if p, ok := c.(*comment.Paragraph); ok {
						walk(p.Text)
					}
				}
			}
		}
	}
	return out
}
