package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-go/tollgate/core"
)

// Parse reads a rules file's content (name is the file's name, for errors)
// into a Config, strictly: unknown fields, repeated keys, values of the
// wrong kind, unparsable limits, durations and actions are errors naming
// the file, line and field. Parse does not check the Config's meaning
// (names, CIDRs, regular expressions): New and Load do, with the same
// names and lines.
func Parse(name string, data []byte) (Config, error) {
	cfg, _, err := parse(name, data)
	if err != nil {
		return Config{}, err
	}
	return *cfg, nil
}

// lineMap maps a field's path to its line in the file.
type lineMap map[string]int

type parser struct {
	file  string
	lines lineMap
	errs  []error
}

func parse(file string, data []byte) (*Config, lineMap, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, &FieldError{File: file, Line: 1, Path: "rules", Err: errors.New("the file is empty")}
		}
		return nil, nil, fmt.Errorf("%s: not valid YAML: %w", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, nil, &FieldError{File: file, Line: extra.Line, Path: "rules", Err: errors.New("a second YAML document: a rules file holds one")}
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s: not valid YAML: %w", file, err)
	}
	p := &parser{file: file, lines: lineMap{}}
	cfg := &Config{}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	p.config(doc, cfg)
	if len(p.errs) > 0 {
		return nil, nil, errors.Join(p.errs...)
	}
	return cfg, p.lines, nil
}

func (p *parser) fail(n *yaml.Node, path string, err error) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &FieldError{File: p.file, Line: n.Line, Path: path, Err: err})
	}
}

func (p *parser) failf(n *yaml.Node, path, format string, args ...any) {
	p.fail(n, path, fmt.Errorf(format, args...))
}

// fields reads a mapping whose keys must be among known, calling each with
// its value; it reports unknown and repeated keys.
func (p *parser) fields(n *yaml.Node, path string, known map[string]func(v *yaml.Node, path string)) {
	if n.Kind != yaml.MappingNode {
		p.failf(n, path, "want a mapping of %s, got %s", fieldNames(known), kindOf(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fp := k.Value
		if path != "" {
			fp = path + "." + k.Value
		}
		if line, dup := seen[k.Value]; dup {
			p.failf(k, fp, "repeated: also on line %d", line)
			continue
		}
		seen[k.Value] = k.Line
		fn, ok := known[k.Value]
		if !ok {
			p.failf(k, fp, "unknown field (known: %s)", fieldNames(known))
			continue
		}
		p.lines[fp] = v.Line
		fn(v, fp)
	}
}

func fieldNames(known map[string]func(*yaml.Node, string)) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	// A stable order, for stable messages.
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return strings.Join(names, ", ")
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "the scalar " + strconv.Quote(n.Value)
}

// tiers reads a mapping of tier names to limits: {free: 100/m, pro: 10000/m}.
func (p *parser) tiers(n *yaml.Node, path string) map[string]core.Limit {
	if n.Kind != yaml.MappingNode {
		p.failf(n, path, "want a mapping of tier names to limits, got %s", kindOf(n))
		return nil
	}
	out := make(map[string]core.Limit, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fp := path + "." + k.Value
		if _, dup := out[k.Value]; dup {
			p.failf(k, fp, "repeated tier")
			continue
		}
		p.lines[fp] = v.Line
		l, err := core.ParseLimit(p.str(v, fp))
		if err != nil {
			p.fail(v, fp, err)
		}
		out[k.Value] = l
	}
	return out
}

func (p *parser) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.failf(n, path, "want a string, got %s", kindOf(n))
		return ""
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true":
			return true
		case "false":
			return false
		}
	}
	p.failf(n, path, "want true or false, got %s", kindOf(n))
	return false
}

func (p *parser) integer(n *yaml.Node, path string) int64 {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return v
		}
	}
	p.failf(n, path, "want a whole number, got %s", kindOf(n))
	return 0
}

func (p *parser) duration(n *yaml.Node, path string) time.Duration {
	s := p.str(n, path)
	if s == "" {
		return 0
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if v, err := strconv.ParseInt(days, 10, 32); err == nil && v > 0 {
			return time.Duration(v) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.failf(n, path, "%q: want a positive duration such as 90s, 15m, 1h or 1d", s)
		return 0
	}
	return d
}

// strs reads a string or a list of strings; the items' paths are
// path[i].
func (p *parser) strs(n *yaml.Node, path string) []string {
	if n.Kind == yaml.ScalarNode {
		p.lines[path+"[0]"] = n.Line
		return []string{p.str(n, path)}
	}
	if n.Kind != yaml.SequenceNode {
		p.failf(n, path, "want a string or a list of them, got %s", kindOf(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		ip := path + "[" + strconv.Itoa(i) + "]"
		p.lines[ip] = c.Line
		out = append(out, p.str(c, ip))
	}
	return out
}

// seq calls fn for each item of a list, with the item's path.
func (p *parser) seq(n *yaml.Node, path string, fn func(i int, v *yaml.Node, path string)) {
	if n.Kind != yaml.SequenceNode {
		p.failf(n, path, "want a list, got %s", kindOf(n))
		return
	}
	for i, c := range n.Content {
		ip := path + "[" + strconv.Itoa(i) + "]"
		p.lines[ip] = c.Line
		fn(i, c, ip)
	}
}

func (p *parser) config(n *yaml.Node, cfg *Config) {
	p.fields(n, "", map[string]func(*yaml.Node, string){
		"mode": func(v *yaml.Node, path string) {
			switch s := p.str(v, path); s {
			case "first":
				cfg.Mode = FirstMatch
			case "all":
				cfg.Mode = AllMatches
			default:
				p.failf(v, path, "%q: want first or all", s)
			}
		},
		"shadow": func(v *yaml.Node, path string) { cfg.Shadow = p.boolean(v, path) },
		"allow":  func(v *yaml.Node, path string) { p.list(v, path, &cfg.Allow) },
		"deny":   func(v *yaml.Node, path string) { p.list(v, path, &cfg.Deny) },
		"rules": func(v *yaml.Node, path string) {
			if v.Kind == yaml.SequenceNode && len(v.Content) > MaxRules {
				p.failf(v, path, "%d rules, more than %d", len(v.Content), MaxRules)
				return
			}
			p.seq(v, path, func(_ int, v *yaml.Node, path string) {
				var r Rule
				p.rule(v, path, &r)
				cfg.Rules = append(cfg.Rules, r)
			})
		},
	})
}

func (p *parser) list(n *yaml.Node, path string, l *List) {
	p.fields(n, path, map[string]func(*yaml.Node, string){
		"cidr": func(v *yaml.Node, path string) { l.CIDRs = p.strs(v, path) },
		"keys": func(v *yaml.Node, path string) {
			p.seq(v, path, func(_ int, v *yaml.Node, path string) {
				var kv KeyValues
				p.fields(v, path, map[string]func(*yaml.Node, string){
					"key":    func(v *yaml.Node, path string) { kv.Key = p.str(v, path) },
					"values": func(v *yaml.Node, path string) { kv.Values = p.strs(v, path) },
				})
				l.Keys = append(l.Keys, kv)
			})
		},
	})
}

func (p *parser) rule(n *yaml.Node, path string, r *Rule) {
	p.fields(n, path, map[string]func(*yaml.Node, string){
		"name":   func(v *yaml.Node, path string) { r.Name = p.str(v, path) },
		"match":  func(v *yaml.Node, path string) { p.match(v, path, &r.Match) },
		"skip":   func(v *yaml.Node, path string) { r.Skip = p.boolean(v, path) },
		"shadow": func(v *yaml.Node, path string) { r.Shadow = p.boolean(v, path) },
		"limits": func(v *yaml.Node, path string) {
			p.seq(v, path, func(_ int, v *yaml.Node, path string) {
				var pol NamedLimit
				p.fields(v, path, map[string]func(*yaml.Node, string){
					"name": func(v *yaml.Node, path string) { pol.Name = p.str(v, path) },
					"key":  func(v *yaml.Node, path string) { pol.Key = p.str(v, path) },
					"limit": func(v *yaml.Node, path string) {
						s := p.str(v, path)
						if s == "" {
							return
						}
						l, err := core.ParseLimit(s)
						if err != nil {
							p.fail(v, path, err)
						}
						pol.Limit = l
					},
					"tiers":        func(v *yaml.Node, path string) { pol.Tiers = p.tiers(v, path) },
					"tier_key":     func(v *yaml.Node, path string) { pol.TierKey = p.str(v, path) },
					"default_tier": func(v *yaml.Node, path string) { pol.DefaultTier = p.str(v, path) },
					"concurrent": func(v *yaml.Node, path string) {
						before := len(p.errs)
						if pol.Concurrent = p.integer(v, path); len(p.errs) == before && pol.Concurrent < 1 {
							p.failf(v, path, "%d: at least 1 request in flight (a limit of 0 would refuse every request)", pol.Concurrent)
						}
					},
				})
				r.Limits = append(r.Limits, pol)
			})
		},
		"missing": func(v *yaml.Node, path string) {
			p.fields(v, path, map[string]func(*yaml.Node, string){
				"action": func(v *yaml.Node, path string) {
					switch s := p.str(v, path); s {
					case "deny":
						r.Missing.Action = MissingDeny
					case "skip":
						r.Missing.Action = MissingSkip
					case "fallback":
						r.Missing.Action = MissingFallback
					default:
						p.failf(v, path, "%q: want deny, skip or fallback", s)
					}
				},
				"status": func(v *yaml.Node, path string) { r.Missing.Status = int(p.integer(v, path)) },
				"key":    func(v *yaml.Node, path string) { r.Missing.Fallback = p.str(v, path) },
			})
		},
		"penalty": func(v *yaml.Node, path string) {
			var pen core.Penalty
			p.fields(v, path, map[string]func(*yaml.Node, string){
				"denials": func(v *yaml.Node, path string) { pen.Denials = p.integer(v, path) },
				"within":  func(v *yaml.Node, path string) { pen.Within = p.duration(v, path) },
				"for":     func(v *yaml.Node, path string) { pen.For = p.duration(v, path) },
			})
			r.Penalty = &pen
		},
	})
}

func (p *parser) match(n *yaml.Node, path string, m *Match) {
	p.fields(n, path, map[string]func(*yaml.Node, string){
		"method":      func(v *yaml.Node, path string) { m.Methods = p.strs(v, path) },
		"path_prefix": func(v *yaml.Node, path string) { m.PathPrefixes = p.strs(v, path) },
		"path_regex":  func(v *yaml.Node, path string) { m.PathRegex = p.str(v, path) },
		"route":       func(v *yaml.Node, path string) { m.Routes = p.strs(v, path) },
		"cidr":        func(v *yaml.Node, path string) { m.CIDRs = p.strs(v, path) },
		"header": func(v *yaml.Node, path string) {
			one := func(v *yaml.Node, path string) {
				var h HeaderMatch
				p.fields(v, path, map[string]func(*yaml.Node, string){
					"name":   func(v *yaml.Node, path string) { h.Name = p.str(v, path) },
					"equals": func(v *yaml.Node, path string) { h.Equals = p.str(v, path) },
				})
				m.Headers = append(m.Headers, h)
			}
			if v.Kind == yaml.MappingNode {
				p.lines[path+"[0]"] = v.Line
				one(v, path+"[0]")
				return
			}
			p.seq(v, path, func(_ int, v *yaml.Node, path string) { one(v, path) })
		},
	})
}

// locate gives the FieldErrors in err (as compile joins them) the file and
// the line of their field, or of its nearest parent the file has.
func (lines lineMap) locate(file string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			out = append(out, fmt.Errorf("%s: %w", file, e))
			continue
		}
		located := *fe
		located.File = file
		located.Line = lines.find(fe.Path)
		out = append(out, &located)
	}
	return errors.Join(out...)
}

func (lines lineMap) find(path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 1
}
