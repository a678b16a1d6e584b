package landlockconfig

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseFile(t *testing.T, name string) *Document {
	t.Helper()
	f, err := FormatOf(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(readTestdata(t, name), f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Documents written the way the format's own examples are (variables,
// groups at a stated ABI, split rulesets, rules without a ruleset) import
// as the rules they mean.
func TestImportExamples(t *testing.T) {
	for _, tt := range []struct {
		file string
		want v1alpha1.AccessRules
	}{
		{"web-server.toml", v1alpha1.AccessRules{
			ReadOnly:  []string{"/etc/server", "/etc/ssl/certs"},
			ReadExec:  []string{"/usr/lib/server", "/usr/local/bin/server"},
			ReadWrite: []string{"/var/cache/server", "/var/lib/server"},
			Network:   &v1alpha1.NetworkRules{BindTCP: []int32{8080}, ConnectTCP: []int32{5432}},
		}},
		{"isolated-shell.json", v1alpha1.AccessRules{
			ReadExec:  []string{"/bin", "/lib"},
			ReadWrite: []string{"/home/user", "/tmp"},
			Scope:     &v1alpha1.ScopeRules{AbstractUnixSocket: true, Signal: true},
		}},
		{"split-rulesets.json", v1alpha1.AccessRules{
			ReadOnly: []string{"/etc/motd"},
			ReadExec: []string{"/usr"},
			Network:  &v1alpha1.NetworkRules{},
		}},
		{"everything-beneath-root.toml", v1alpha1.AccessRules{ReadWriteExec: []string{"/"}}},
		{"dollar.json", v1alpha1.AccessRules{
			ReadOnly: []string{"/srv/$price", "/srv/alpha/$HOME", "/srv/beta/$HOME", "/srv/gamma/$HOME"},
		}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Import(parseFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %s\nwant %s", show(got), show(tt.want))
			}
			roundTrip(t, got)
		})
	}
}

// roundTrip exports rules in both syntaxes and imports them back.
func roundTrip(t *testing.T, rules v1alpha1.AccessRules) {
	t.Helper()
	want := normal(rules)
	for _, f := range []Format{JSON, TOML} {
		d, err := Export(rules)
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		data, err := d.Marshal(f)
		if err != nil {
			t.Fatalf("marshal %s: %v", f, err)
		}
		back, err := Parse(data, f)
		if err != nil {
			t.Fatalf("parse %s: %v\n%s", f, err, data)
		}
		got, err := Import(back)
		if err != nil {
			t.Fatalf("import %s: %v\n%s", f, err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s round trip:\n got  %s\n want %s\n%s", f, show(got), show(want), data)
		}
	}
}

// normal is rules as Import writes them: lists sorted, a scope that
// scopes nothing left out (it restricts nothing).
func normal(r v1alpha1.AccessRules) v1alpha1.AccessRules {
	sorted := func(s []string) []string {
		if s == nil {
			return nil
		}
		return slices.Compact(slices.Sorted(slices.Values(s)))
	}
	out := v1alpha1.AccessRules{
		ReadOnly: sorted(r.ReadOnly), ReadWrite: sorted(r.ReadWrite),
		ReadExec: sorted(r.ReadExec), ReadWriteExec: sorted(r.ReadWriteExec),
	}
	if r.Network != nil {
		out.Network = &v1alpha1.NetworkRules{}
		if r.Network.BindTCP != nil {
			out.Network.BindTCP = slices.Compact(slices.Sorted(slices.Values(r.Network.BindTCP)))
		}
		if r.Network.ConnectTCP != nil {
			out.Network.ConnectTCP = slices.Compact(slices.Sorted(slices.Values(r.Network.ConnectTCP)))
		}
	}
	if r.Scope != nil && (r.Scope.Signal || r.Scope.AbstractUnixSocket) {
		out.Scope = r.Scope
	}
	return out
}

func show(r v1alpha1.AccessRules) string {
	data, _ := json.Marshal(r)
	return string(data)
}

// Every rule set of podlock's own profiles (the documentation's, and those
// of the tests) goes to landlockconfig and back unchanged.
func TestRoundTripPodlockProfiles(t *testing.T) {
	sources := map[string][]byte{"testdata/podlock-profiles.yaml": readTestdata(t, "podlock-profiles.yaml")}
	// The pages whose yaml blocks hold profiles.
	for _, page := range []string{"README.md", "profiles/README.md", "runtime/record/README.md"} {
		text, err := os.ReadFile(filepath.Join("..", "..", page))
		if err != nil {
			t.Fatal(err)
		}
		var blocks []string
		for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(text), -1) {
			if strings.Contains(m[1], "kind: LandlockProfile") {
				blocks = append(blocks, m[1])
			}
		}
		sources[page] = []byte(strings.Join(blocks, "\n---\n"))
	}

	seen := 0
	for _, source := range slices.Sorted(maps.Keys(sources)) {
		docs, err := dir.Documents(sources[source])
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		for _, doc := range docs {
			var p v1alpha1.LandlockProfile
			if err := v1alpha1.Decode(doc, &p); err != nil {
				t.Fatalf("%s: %v", source, err)
			}
			for c, rules := range p.Spec.ContainerWide {
				t.Run(source+"/"+p.Metadata.Name+"/containerWide/"+c, func(t *testing.T) { roundTrip(t, rules) })
				seen++
			}
			for c, binaries := range p.Spec.ProfilesByContainer {
				for b, rules := range binaries {
					t.Run(source+"/"+p.Metadata.Name+"/"+c+b, func(t *testing.T) { roundTrip(t, rules) })
					seen++
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d rule sets found in the profiles", seen)
	}
}

// The quickstart's /bin/sh, exported: one ruleset handling ABI 3, one
// pathBeneath per level, names rather than groups.
func TestExportQuickstart(t *testing.T) {
	d, err := Export(v1alpha1.AccessRules{
		ReadExec:  []string{"/bin/echo", "/bin/cat"},
		ReadWrite: []string{"/tmp"},
		ReadOnly:  []string{"/etc/hostname"},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := d.Marshal(TOML)
	if err != nil {
		t.Fatal(err)
	}
	want := `[[ruleset]]
handled_access_fs = ['execute', 'write_file', 'read_file', 'read_dir', 'remove_dir', 'remove_file', 'make_char', 'make_dir', 'make_reg', 'make_sock', 'make_fifo', 'make_block', 'make_sym', 'refer', 'truncate']

[[path_beneath]]
allowed_access = ['read_file', 'read_dir']
parent = ['/etc/hostname']

[[path_beneath]]
allowed_access = ['execute', 'read_file', 'read_dir']
parent = ['/bin/echo', '/bin/cat']

[[path_beneath]]
allowed_access = ['write_file', 'read_file', 'read_dir', 'remove_dir', 'remove_file', 'make_char', 'make_dir', 'make_reg', 'make_sock', 'make_fifo', 'make_block', 'make_sym', 'refer', 'truncate']
parent = ['/tmp']
`
	if string(data) != want {
		t.Errorf("got:\n%s\nwant:\n%s", data, want)
	}
}

func TestExportRefusesInvalidRules(t *testing.T) {
	for _, rules := range []v1alpha1.AccessRules{
		{ReadOnly: []string{"etc"}},
		{ReadWrite: []string{"/tmp/"}},
		{Network: &v1alpha1.NetworkRules{BindTCP: []int32{70000}}},
	} {
		if _, err := Export(rules); err == nil || !errors.Is(err, v1alpha1.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", show(rules), err)
		}
	}
}

// What a LandlockProfile cannot say exactly is refused with the reason,
// and so is what does not follow the format.
func TestImportRefuses(t *testing.T) {
	const fs3 = `"handledAccessFs": ["abi.all"]`
	for _, tt := range []struct {
		name   string
		format Format
		doc    string
		class  error
		want   string
	}{
		{"the format's own example at ABI 5", JSON, `{"abi": 5, "ruleset": [{"handledAccessFs": ["abi.all"]}],
			"pathBeneath": [{"allowedAccess": ["abi.read_write"], "parent": ["/tmp"]}]}`,
			ErrNotExact, "it denies ioctl_dev, which podlock never restricts"},
		{"abi.read_execute includes refer", JSON, `{"abi": 3, "ruleset": [{` + fs3 + `}],
			"pathBeneath": [{"allowedAccess": ["abi.read_execute"], "parent": ["/bin"]}]}`,
			ErrNotExact, "/bin is allowed [execute, read_file, read_dir, refer], which is none of podlock's access levels (abi.read_execute includes refer"},
		{"fewer rights handled", JSON, `{"pathBeneath": [{"allowedAccess": ["read_file", "read_dir"], "parent": ["/etc"]}]}`,
			ErrNotExact, "it leaves execute, write_file, remove_dir"},
		{"read_file alone", TOML, "abi = 3\n[[ruleset]]\nhandled_access_fs = ['abi.all']\n[[path_beneath]]\nallowed_access = ['read_file']\nparent = ['/etc/hostname']\n",
			ErrNotExact, "/etc/hostname is allowed [read_file], which is none of podlock's access levels (for a file, read_dir grants nothing"},
		{"bind without connect", JSON, `{"abi": 3, "ruleset": [{` + fs3 + `, "handledAccessNet": ["bind_tcp"]}]}`,
			ErrNotExact, "handles the network right bind_tcp alone"},
		{"connect through a rule only", JSON, `{"abi": 3, "ruleset": [{` + fs3 + `}], "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}]}`,
			ErrNotExact, "handles the network right connect_tcp alone"},
		{"relative parent", JSON, `{"abi": 3, "ruleset": [{` + fs3 + `}], "pathBeneath": [{"allowedAccess": ["abi.all"], "parent": ["."]}]}`,
			ErrNotExact, `path "." is not absolute`},
		{"unclean parent", JSON, `{"abi": 3, "ruleset": [{` + fs3 + `}], "pathBeneath": [{"allowedAccess": ["abi.all"], "parent": ["/tmp/"]}]}`,
			ErrNotExact, `path "/tmp/" is not clean`},
		{"unclean after a variable", JSON, `{"abi": 3, "variable": [{"name": "d", "literal": ["/tmp/"]}], "ruleset": [{` + fs3 + `}],
			"pathBeneath": [{"allowedAccess": ["abi.all"], "parent": ["${d}/x"]}]}`,
			ErrNotExact, `from "${d}/x": path "/tmp//x" is not clean`},
		{"variable without a value", TOML, "abi = 3\n[[variable]]\nname = 'home'\n[[ruleset]]\nhandled_access_fs = ['abi.all']\n[[path_beneath]]\nallowed_access = ['abi.all']\nparent = ['${home}']\n",
			ErrNotExact, `names variable "home", which the document declares without a literal value`},
		{"groups beyond ABI 7", JSON, `{"abi": 8, "ruleset": [{"handledAccessFs": ["abi.all"]}]}`,
			ErrNotExact, "abi.all at abi 8: podlock knows the rights of Landlock ABIs up to 7 only"},
		{"undeclared variable", JSON, `{"abi": 3, "ruleset": [{` + fs3 + `}], "pathBeneath": [{"allowedAccess": ["abi.all"], "parent": ["/${nope}"]}]}`,
			ErrInvalid, `names variable "nope", which the document does not declare`},
		{"group without abi", JSON, `{"ruleset": [{"handledAccessFs": ["abi.all"]}]}`,
			ErrInvalid, "abi.all depends on the document's abi, which it does not set"},
		{"port out of range", JSON, `{"abi": 4, "ruleset": [{"handledAccessFs": ["abi.all"], "handledAccessNet": ["abi.all"]}],
			"netPort": [{"allowedAccess": ["bind_tcp"], "port": [70000]}]}`,
			ErrInvalid, "port 70000 is not a TCP port"},
		{"unknown right", JSON, `{"ruleset": [{"handledAccessFs": ["read"]}]}`,
			ErrInvalid, `unknown filesystem access right "read"`},
		{"network right as a filesystem right", JSON, `{"ruleset": [{"handledAccessFs": ["bind_tcp"]}]}`,
			ErrInvalid, `unknown filesystem access right "bind_tcp"`},
		{"unknown field", JSON, `{"ruleset": [{"handledAccessFs": ["execute"]}], "mode": "enforce"}`,
			ErrInvalid, `unknown field "mode"`},
		{"misspelt case", JSON, `{"ruleset": [{"HandledAccessFs": ["execute"]}]}`,
			ErrInvalid, `unknown field "ruleset[0].HandledAccessFs"`},
		{"repeated field", JSON, `{"abi": 3, "abi": 3, "ruleset": [{"handledAccessFs": ["abi.all"]}]}`,
			ErrInvalid, `duplicate field "abi"`},
		{"JSON spelling in TOML", TOML, "[[pathBeneath]]\nallowedAccess = ['execute']\nparent = ['/bin']\n",
			ErrInvalid, `unknown field "pathBeneath": TOML spells it in snake_case`},
		{"misspelt case in TOML", TOML, "[[path_beneath]]\nallowed_access = ['execute']\nParent = ['/bin']\n",
			ErrInvalid, `unknown field "pathBeneath[0].Parent"`},
		{"repeated key in TOML", TOML, "abi = 3\nabi = 3\n", ErrInvalid, "reading landlockconfig toml"},
		{"float in TOML", TOML, "abi = 3.0\n[[ruleset]]\nhandled_access_fs = ['execute']\n", ErrInvalid, "abi: a float64 has no place"},
		{"abi alone", JSON, `{"abi": 3}`, ErrInvalid, "the document has no variable, ruleset, pathBeneath or netPort"},
		{"empty ruleset", JSON, `{"ruleset": [{}]}`, ErrInvalid, "ruleset[0] handles nothing"},
		{"empty list", JSON, `{"ruleset": [{"handledAccessFs": ["execute"]}], "pathBeneath": []}`, ErrInvalid, "pathBeneath is missing or an empty list"},
		{"rule without parent", JSON, `{"pathBeneath": [{"allowedAccess": ["execute"]}]}`, ErrInvalid, "pathBeneath[0].parent is missing or an empty list"},
		{"abi zero", JSON, `{"abi": 0, "ruleset": [{"handledAccessFs": ["execute"]}]}`, ErrInvalid, "abi 0: the format's ABIs are 1 to 2^31-1"},
		{"abi too large", JSON, `{"abi": 2147483648, "ruleset": [{"handledAccessFs": ["execute"]}]}`, ErrInvalid, "abi 2147483648: the format's ABIs are 1 to 2^31-1"},
		{"unclosed variable", JSON, `{"variable": [{"name": "a", "literal": ["x"]}], "pathBeneath": [{"allowedAccess": ["execute"], "parent": ["/${a"]}]}`,
			ErrInvalid, "unclosed variable reference at position 1"},
		{"bad variable name", JSON, `{"variable": [{"name": "1a", "literal": ["x"]}]}`, ErrInvalid, `variable name "1a"`},
		{"trailing data", JSON, `{"ruleset": [{"handledAccessFs": ["execute"]}]} {}`, ErrInvalid, "reading landlockconfig json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc), tt.format)
			if err == nil {
				_, err = Import(d)
			}
			if !errors.Is(err, tt.class) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant %v mentioning %q", err, tt.class, tt.want)
			}
		})
	}
}

// Every problem of a document is reported at once.
func TestImportReportsEveryProblem(t *testing.T) {
	d, err := Parse([]byte(`{"pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["/a", "/b"]}]}`), JSON)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Import(d)
	for _, want := range []string{"it leaves execute", "/a is allowed [read_file]", "/b is allowed [read_file]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for file, want := range map[string]Format{"a.json": JSON, "b.TOML": TOML, "c.yaml": "", "d": ""} {
		got, err := FormatOf(file)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", file, got, err, want)
		}
	}
}
