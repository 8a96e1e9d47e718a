//! Architecture invariants checked on the source tree: within every crate, no
//! module imports a module that imports it (issue 14, STYLE.md §20).
//!
//! The check reads `crates/*/src` as text. A module is a file (`a.rs`,
//! `a/mod.rs`, `a/b.rs`); an edge `m -> n` is a path in `m`'s code that names
//! something in `n`: `crate::n::…`, `super::…` resolved to `n`, a child `n::…`
//! named from its parent, or an item defined in an ancestor's own file (such
//! as `crate::Sigra` defined in `lib.rs`). A parent declaring `mod child;` is
//! not an edge; using what the child defines is. Test code (`tests.rs`,
//! `*_tests.rs`, a trailing `#[cfg(test)] mod tests`) is left out: a test may
//! reach anywhere. Any cycle in that graph fails the test, naming the path.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

struct Module {
    path: ModPath,
    code: String,
    /// Items defined in this file itself (not re-exported), by name.
    items: BTreeSet<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_path(src: &Path, file: &Path) -> Option<ModPath> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.trim_end_matches(".rs").to_string();
    if stem == "tests" || stem.ends_with("_tests") || parts.iter().any(|p| p == "bin") {
        return None;
    }
    match stem.as_str() {
        "lib" | "main" if parts.is_empty() => {}
        "mod" => {}
        _ => parts.push(stem),
    }
    Some(parts)
}

/// The file's code without comments, string contents and its trailing test module.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            // Everything from the test module on is test code.
            let rest = &text[text.find(line).unwrap_or(0)..];
            let next = rest.lines().nth(1).unwrap_or("").trim_start();
            if next.starts_with("mod ") || next.starts_with("pub(crate) mod ") {
                break;
            }
            continue;
        }
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    strip_strings(&code)
}

fn strip_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut prev = ' ';
    for c in code.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                out.push('"');
            }
            if c == '\n' {
                out.push('\n');
            }
        } else if c == '"' && prev != '\'' {
            in_string = true;
            out.push('"');
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Names of items this file defines itself.
fn defined_items(code: &str) -> BTreeSet<String> {
    let mut items = BTreeSet::new();
    for line in code.lines() {
        let mut words = line.split_whitespace().peekable();
        while let Some(word) = words.next() {
            if matches!(
                word,
                "struct" | "enum" | "fn" | "trait" | "const" | "static" | "type" | "union"
            ) || (word == "macro_rules!")
            {
                if let Some(name) = words.peek() {
                    let name: String = name.chars().take_while(|c| is_ident(*c)).collect();
                    if !name.is_empty() {
                        items.insert(name);
                    }
                }
                break;
            }
            if !matches!(
                word,
                "pub" | "pub(crate)" | "pub(super)" | "async" | "unsafe" | "const" | "extern"
            ) && !word.starts_with("pub(")
            {
                break;
            }
        }
    }
    items
}

/// Every path in `code` written as `a::b::c`, with `{…}` groups expanded, as
/// segment lists (the first segment may be `crate`, `super` or `self`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        if starts_word && is_ident(chars[i]) {
            i = parse_path(&chars, i, &[], &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Parses one path starting at `i`, pushing complete paths to `out`.
fn parse_path(
    chars: &[char],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut segments: Vec<String> = Vec::new();
    loop {
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        segments.push(chars[start..i].iter().collect());
        if i + 1 < chars.len() && chars[i] == ':' && chars[i + 1] == ':' {
            i += 2;
            if i < chars.len() && chars[i] == '{' {
                // A group: each comma-separated entry continues this path.
                let base: Vec<String> = prefix.iter().chain(&segments).cloned().collect();
                i += 1;
                loop {
                    while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                        i += 1;
                    }
                    if i >= chars.len() || chars[i] == '}' {
                        return i + 1;
                    }
                    if is_ident(chars[i]) {
                        i = parse_path(chars, i, &base, out);
                    } else {
                        i += 1;
                    }
                }
            }
            if i < chars.len() && is_ident(chars[i]) {
                continue;
            }
        }
        break;
    }
    if segments.len() > 1 || !prefix.is_empty() {
        let full: Vec<String> = prefix.iter().chain(&segments).cloned().collect();
        out.push(full);
    }
    i
}

fn is_ancestor(a: &[String], b: &[String]) -> bool {
    a.len() < b.len() && b.starts_with(a)
}

/// The module (and item, if any) an absolute path names.
fn target(modules: &BTreeMap<ModPath, Module>, path: &[String]) -> Option<ModPath> {
    let mut longest = 0;
    for n in 0..=path.len() {
        if modules.contains_key(&path[..n].to_vec()) {
            longest = n;
        }
    }
    let module = path[..longest].to_vec();
    if longest == path.len() {
        return Some(module);
    }
    // An item of that module: it counts if the module's own file defines it,
    // or if the path goes no further than a module (a child module's item).
    let item = &path[longest];
    if modules[&module].items.contains(item) {
        Some(module)
    } else {
        None
    }
}

fn edges_of(modules: &BTreeMap<ModPath, Module>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (here, module) in modules {
        for path in paths(&module.code) {
            let absolute: Option<ModPath> = match path[0].as_str() {
                "crate" => Some(path[1..].to_vec()),
                "super" => {
                    let mut base = here.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    Some(base.into_iter().chain(rest.iter().cloned()).collect())
                }
                "self" => Some(here.iter().chain(&path[1..]).cloned().collect()),
                first => {
                    let mut child = here.clone();
                    child.push(first.to_string());
                    modules
                        .contains_key(&child)
                        .then(|| here.iter().chain(&path).cloned().collect())
                }
            };
            let Some(absolute) = absolute else { continue };
            let Some(to) = target(modules, &absolute) else {
                continue;
            };
            if &to == here || (is_ancestor(&to, here) && absolute.len() == to.len()) {
                continue;
            }
            edges.entry(here.clone()).or_default().insert(to);
        }
    }
    edges
}

fn find_cycle(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    let mut cycles = Vec::new();
    for (from, tos) in edges {
        for to in tos {
            // A path back from `to` to `from` closes a cycle through this edge.
            let mut stack = vec![(to.clone(), vec![from.clone(), to.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((node, trail)) = stack.pop() {
                if &node == from {
                    cycles.push(trail);
                    break;
                }
                if !seen.insert(node.clone()) {
                    continue;
                }
                for next in edges.get(&node).into_iter().flatten() {
                    let mut trail = trail.clone();
                    trail.push(next.clone());
                    stack.push((next.clone(), trail));
                }
            }
        }
    }
    cycles
}

fn name(crate_name: &str, path: &[String]) -> String {
    if path.is_empty() {
        format!("{crate_name} (root)")
    } else {
        format!("{crate_name}::{}", path.join("::"))
    }
}

fn cycles_in(crate_dir: &Path) -> Vec<String> {
    let src = crate_dir.join("src");
    let crate_name = crate_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let Some(path) = module_path(&src, &file) else {
            continue;
        };
        let code = code_of(&fs::read_to_string(&file).unwrap());
        let items = defined_items(&code);
        modules.insert(path.clone(), Module { path, code, items });
    }
    let edges = edges_of(&modules);
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for cycle in find_cycle(&edges) {
        let mut key: Vec<ModPath> = cycle[..cycle.len() - 1].to_vec();
        key.sort();
        if seen.insert(key) {
            let names: Vec<String> = cycle.iter().map(|m| name(&crate_name, m)).collect();
            found.push(names.join(" -> "));
        }
    }
    // Keep `Module::path` read so the struct documents itself.
    debug_assert!(modules.iter().all(|(k, m)| k == &m.path));
    found
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let crates = workspace_root().join("crates");
    let mut dirs: Vec<_> = fs::read_dir(&crates)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 6,
        "expected the six crates under {}",
        crates.display()
    );
    let cycles: Vec<String> = dirs.iter().flat_map(|d| cycles_in(d)).collect();
    assert!(
        cycles.is_empty(),
        "module cycles (each line: a chain of imports that comes back to where it started):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_check_sees_a_cycle() {
    // The detector itself: two sibling modules naming each other, and a child
    // naming an item its parent file defines while the parent uses the child.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("demo").join("src");
    fs::create_dir_all(src.join("web")).unwrap();
    fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod web;\npub struct Root;\n",
    )
    .unwrap();
    fs::write(
        src.join("a.rs"),
        "use crate::b::Thing;\npub struct Other;\n",
    )
    .unwrap();
    fs::write(
        src.join("b.rs"),
        "pub struct Thing;\nfn f() -> crate::a::Other { todo() }\n",
    )
    .unwrap();
    fs::write(
        src.join("web").join("mod.rs"),
        "mod layer;\npub use layer::Layer;\npub struct Sigra;\n",
    )
    .unwrap();
    fs::write(
        src.join("web").join("layer.rs"),
        "use super::Sigra;\npub struct Layer;\n",
    )
    .unwrap();
    let cycles = cycles_in(&dir.path().join("demo"));
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(
        cycles
            .iter()
            .any(|c| c.contains("demo::a") && c.contains("demo::b"))
    );
    assert!(cycles.iter().any(|c| c.contains("demo::web::layer")));
}
