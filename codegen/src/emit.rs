//! Emission: IR -> Rust tokens (`quote`), one token stream per module.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;
use serde_json::Value;

use crate::ir::*;

/// Where a type expression is written from: an endpoint module, or the shared module.
#[derive(Clone, Copy)]
pub enum Scope {
    Endpoint(usize),
    Shared,
}

pub struct Emitter<'a> {
    pub api: &'a Api,
    /// Path of the runtime crate (`crate` inside fal-models, `::fal_models` elsewhere).
    pub runtime: TokenStream,
    /// Path from an endpoint module to the generated root, per endpoint (`super::super`).
    pub root_from: Vec<TokenStream>,
}

fn ident(name: &str) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    }
}

/// Text made safe for a doc comment (`prettyplease` writes doc attributes as `///`): a bare
/// carriage return ends the line, since rustc rejects it inside a comment, and the invisible
/// codepoints that change the direction of text, which rustc denies in comments, are spelled out.
pub(crate) fn doc_clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.replace("\r\n", "\n").chars() {
        match c {
            '\r' => out.push('\n'),
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

fn doc_attrs(text: &str) -> TokenStream {
    let lines: Vec<TokenStream> = doc_clean(text)
        .lines()
        .map(|l| {
            let l = format!(" {}", l.trim_end());
            quote!(#[doc = #l])
        })
        .collect();
    quote!(#(#lines)*)
}

/// Renders a JSON value for docs, shortened so a long prompt does not flood the page.
fn show(v: &Value) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() > 120 {
        // Cut at the last space before the limit, never inside a word.
        let head: String = s.chars().take(117).collect();
        let cut = head.rfind(' ').filter(|&i| i > 40).unwrap_or(head.len());
        s = format!("{}...", head[..cut].trim_end());
    }
    if s.contains('`') { s } else { format!("`{s}`") }
}

/// Documentation text of an item: description, then default, constraints and an example.
fn doc_text(docs: &Docs, fallback: &str) -> String {
    let mut out = String::new();
    let desc = docs
        .description
        .as_deref()
        .or(docs.title.as_deref())
        .unwrap_or(fallback);
    // Text from documents is Markdown; indentation would make code blocks of it.
    for line in desc.lines() {
        out.push_str(line.trim());
        out.push('\n');
    }
    let mut facts = Vec::new();
    if let Some(d) = &docs.default {
        facts.push(format!("Default: {}.", show(d)));
    }
    for c in &docs.constraints {
        facts.push(format!("Constraint: {c}."));
    }
    if let Some(e) = docs.examples.first() {
        facts.push(format!("Example: {}.", show(e)));
    }
    if !facts.is_empty() {
        out.push('\n');
        out.push_str(&facts.join("\n\n"));
        out.push('\n');
    }
    out
}

impl Emitter<'_> {
    /// The name a type goes by in `scope`.
    fn name_in(&self, r: TypeRef, scope: Scope) -> String {
        let def = self.api.ty(r);
        match (scope, &def.shared_name) {
            (Scope::Shared, Some(shared)) => shared.clone(),
            (Scope::Endpoint(e), Some(_)) => self.api.endpoints[e]
                .reexports
                .iter()
                .find(|(_, c)| *c == r)
                .map(|(local, _)| local.clone())
                .unwrap_or_else(|| def.name.clone()),
            (_, None) => def.name.clone(),
        }
    }

    pub fn ty(&self, t: &Ty, scope: Scope) -> TokenStream {
        match t {
            Ty::String => quote!(String),
            Ty::Integer => quote!(i64),
            Ty::Number => quote!(f64),
            Ty::Boolean => quote!(bool),
            Ty::Bytes => {
                let rt = &self.runtime;
                quote!(#rt::Binary)
            }
            Ty::Any(_) => quote!(serde_json::Value),
            Ty::Array(inner) => {
                let inner = self.ty(inner, scope);
                quote!(Vec<#inner>)
            }
            Ty::Map(inner) => {
                let inner = self.ty(inner, scope);
                quote!(std::collections::BTreeMap<String, #inner>)
            }
            Ty::Optional(inner) => {
                let inner = self.ty(inner, scope);
                quote!(Option<#inner>)
            }
            Ty::Named(r) => {
                let name = ident(&self.name_in(*r, scope));
                quote!(#name)
            }
        }
    }

    fn boxed(&self, t: &Ty) -> bool {
        matches!(t, Ty::Named(r) if self.api.ty(*r).recursive)
    }

    fn field_ty(&self, f: &Field, scope: Scope) -> TokenStream {
        let mut ty = self.ty(&f.ty, scope);
        if self.boxed(&f.ty) {
            ty = quote!(Box<#ty>);
        }
        if f.is_option() {
            quote!(Option<#ty>)
        } else {
            ty
        }
    }

    /// Parameter type and conversion for a constructor or setter argument.
    fn param(&self, t: &Ty, scope: Scope, value: &TokenStream) -> (TokenStream, TokenStream) {
        let (ty, conv) = match t {
            Ty::String => (quote!(impl Into<String>), quote!(#value.into())),
            Ty::Array(inner) if **inner == Ty::String => (
                quote!(impl IntoIterator<Item = impl Into<String>>),
                quote!(#value.into_iter().map(Into::into).collect()),
            ),
            Ty::Named(_) | Ty::Bytes => {
                let ty = self.ty(t, scope);
                (quote!(impl Into<#ty>), quote!(#value.into()))
            }
            _ => (self.ty(t, scope), quote!(#value)),
        };
        if self.boxed(t) {
            (ty, quote!(Box::new(#conv)))
        } else {
            (ty, conv)
        }
    }

    /// All items of one type definition.
    pub fn type_def(&self, r: TypeRef, scope: Scope) -> TokenStream {
        let def = self.api.ty(r);
        let name_str = self.name_in(r, scope);
        let name = ident(&name_str);
        let rt = &self.runtime;
        // A type's title is its schema name (`Sora2TextToVideoInput`): no help as documentation.
        // The default and examples of an enum or object belong to the field that uses it (two
        // fields of one type may differ there); the type keeps the description.
        let type_docs = match def.role {
            Role::Other => Docs {
                title: None,
                default: None,
                examples: Vec::new(),
                ..def.docs.clone()
            },
            _ => Docs {
                title: None,
                ..def.docs.clone()
            },
        };
        let mut text = doc_text(&type_docs, &self.default_doc(r, scope));
        if let Some(note) = crate::naming::std_lookalike_note(&name_str) {
            text.push('\n');
            text.push_str(&note);
            text.push('\n');
        }
        let docs = doc_attrs(&text);
        match &def.kind {
            TypeKind::Struct { fields } => self.struct_def(def, &name, scope, fields, docs),
            TypeKind::StrEnum {
                variants,
                catch_all,
            } => {
                let wires: Vec<TokenStream> = variants
                    .iter()
                    .map(|v| {
                        let w = &v.wire;
                        quote!(#w)
                    })
                    .collect();
                let vdocs: Vec<String> = variants
                    .iter()
                    .map(|v| format!(" `{:?}`", v.wire))
                    .collect();
                let idents = variants.iter().map(|v| v.ident.as_str());
                open_enum(
                    rt,
                    &name,
                    docs,
                    idents,
                    wires,
                    vdocs,
                    catch_all,
                    (quote!(str), quote!(String)),
                )
            }
            TypeKind::IntEnum {
                variants,
                catch_all,
            } => {
                let wires: Vec<TokenStream> = variants
                    .iter()
                    .map(|v| {
                        let w = Literal::i64_unsuffixed(v.wire);
                        quote!(#w)
                    })
                    .collect();
                let vdocs: Vec<String> =
                    variants.iter().map(|v| format!(" `{}`", v.wire)).collect();
                let idents = variants.iter().map(|v| v.ident.as_str());
                open_enum(
                    rt,
                    &name,
                    docs,
                    idents,
                    wires,
                    vdocs,
                    catch_all,
                    (quote!(int), quote!(i64)),
                )
            }
            TypeKind::Union { variants } => {
                let idents: Vec<Ident> = variants.iter().map(|v| ident(&v.ident)).collect();
                let tys: Vec<TokenStream> = variants
                    .iter()
                    .map(|v| {
                        let t = self.ty(&v.ty, scope);
                        if self.boxed(&v.ty) {
                            quote!(Box<#t>)
                        } else {
                            t
                        }
                    })
                    .collect();
                let vdocs: Vec<String> = variants
                    .iter()
                    .map(|v| format!(" {}", variant_doc(&v.ty, self, scope)))
                    .collect();
                // `From` for each variant type that no other variant shares, so setters take
                // `ImageSizePreset::SquareHd` or `ImageSize::new(..)` directly.
                let froms: Vec<TokenStream> = variants
                    .iter()
                    .zip(&tys)
                    .filter(|(v, _)| {
                        variants.iter().filter(|o| o.ty == v.ty).count() == 1 && !self.boxed(&v.ty)
                    })
                    .map(|(v, t)| {
                        let vi = ident(&v.ident);
                        quote! {
                            impl From<#t> for #name {
                                fn from(value: #t) -> Self { Self::#vi(value) }
                            }
                        }
                    })
                    .collect();
                // A preset given as text (`.image_size("landscape_16_9")`), as a plain open-enum
                // field takes it: when exactly one variant is a string enum and none is a plain
                // string (which would make the text ambiguous).
                let str_enums: Vec<&UnionVariant> = variants
                    .iter()
                    .filter(|v| {
                        matches!(&v.ty, Ty::Named(r)
                            if matches!(self.api.ty(*r).kind, TypeKind::StrEnum { .. }))
                    })
                    .collect();
                let from_text = match str_enums.as_slice() {
                    [only] if !variants.iter().any(|v| v.ty == Ty::String) => {
                        let vi = ident(&only.ident);
                        let t = self.ty(&only.ty, scope);
                        Some(quote! {
                            impl From<&str> for #name {
                                fn from(value: &str) -> Self { Self::#vi(#t::from(value)) }
                            }
                        })
                    }
                    _ => None,
                };
                quote! {
                    #docs
                    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
                    #[serde(untagged)]
                    #[non_exhaustive]
                    pub enum #name {
                        #( #[doc = #vdocs] #idents(#tys), )*
                    }
                    #(#froms)*
                    #from_text
                }
            }
            TypeKind::Alias(t) => {
                let t = self.ty(t, scope);
                quote! {
                    #docs
                    pub type #name = #t;
                }
            }
            TypeKind::Newtype(t) => {
                let t = self.ty(t, scope);
                let endpoint = if def.role == Role::Input {
                    self.endpoint_impl(&name, scope, def)
                } else {
                    quote!()
                };
                quote! {
                    #docs
                    #[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
                    #[serde(transparent)]
                    pub struct #name(pub #t);
                    #endpoint
                }
            }
        }
    }

    fn struct_def(
        &self,
        def: &TypeDef,
        name: &Ident,
        scope: Scope,
        fields: &[Field],
        docs: TokenStream,
    ) -> TokenStream {
        let field_items: Vec<TokenStream> = fields
            .iter()
            .map(|f| {
                let fname = ident(&f.ident);
                let ty = self.field_ty(f, scope);
                let fdocs = doc_attrs(&self.field_doc(f));
                let deprecated = if f.deprecated {
                    quote!(#[deprecated(note = "deprecated in the endpoint's document")])
                } else {
                    quote!()
                };
                quote! { #fdocs #deprecated pub #fname: #ty, }
            })
            .collect();
        // Inputs, and every type reachable from one, keep keys the bindings do not declare
        // (fal adds parameters weekly): sent as keys of their object, kept by
        // deserialization, so a round trip of a request loses nothing at any depth.
        let extra = (def.role == Role::Input || def.builder).then(|| extra_ident(fields));
        let field_items = match &extra {
            Some(x) => {
                let x = ident(x);
                let mut items = field_items;
                let doc = if def.role == Role::Input {
                    " Fields this version of the bindings does not declare, sent as top-level keys."
                } else {
                    " Fields this version of the bindings does not declare, sent as keys of this object."
                };
                items.push(quote! {
                    #[doc = #doc]
                    pub #x: serde_json::Map<String, serde_json::Value>,
                });
                items
            }
            None => field_items,
        };
        // Deprecated fields are still the document's: the generated impls use them quietly,
        // users get the warning.
        let allow_deprecated = if fields.iter().any(|f| f.deprecated) {
            quote!(#[allow(deprecated)])
        } else {
            quote!()
        };
        let all_optional = fields.iter().all(|f| !f.required);
        let default = if all_optional {
            quote!(Default,)
        } else {
            quote!()
        };
        let secret = fields.iter().any(|f| f.secret);
        let debug = if secret { quote!() } else { quote!(Debug,) };
        let mut out = quote! {
            #docs
            #allow_deprecated
            #[derive(#debug Clone, PartialEq, #default)]
            #[non_exhaustive]
            pub struct #name {
                #(#field_items)*
            }
        };
        out.extend(self.serde_impls(name, scope, fields, extra));
        if secret {
            out.extend(self.redacted_debug(name, fields, extra, &allow_deprecated));
        }
        out.extend(self.remote_file(name, fields, &allow_deprecated));
        out.extend(self.builder(def, name, scope, fields, extra, &allow_deprecated));
        if def.role == Role::Input {
            out.extend(self.endpoint_impl(name, scope, def));
        }
        out
    }

    /// `impl Serialize` and `impl Deserialize` through the runtime's `serde_struct!`, not
    /// serde's derives: the same wire behaviour for a fraction of the compile time (see
    /// `codegen_support::serde_struct`).
    fn serde_impls(
        &self,
        name: &Ident,
        scope: Scope,
        fields: &[Field],
        extra: Option<&'static str>,
    ) -> TokenStream {
        let rt = &self.runtime;
        let items = fields.iter().map(|f| {
            let fname = ident(&f.ident);
            let ty = self.field_ty(f, scope);
            let wire = &f.wire;
            let mode = if !f.required {
                quote!(optional)
            } else if f.nullable {
                quote!(nullable)
            } else {
                quote!(required)
            };
            quote!(#fname: #ty = #wire #mode)
        });
        let extra = extra.map(|x| {
            let x = ident(x);
            quote!(..#x)
        });
        quote! {
            #rt::serde_struct!(#name { #(#items),* } #extra);
        }
    }

    /// Output file types (a required `url` string) implement `files::RemoteFile`, so
    /// `client.download(&out.video, path)` checks their declared type and size.
    fn remote_file(
        &self,
        name: &Ident,
        fields: &[Field],
        allow_deprecated: &TokenStream,
    ) -> TokenStream {
        let has = |wire: &str, ty: &Ty| fields.iter().find(|f| f.wire == wire && f.ty == *ty);
        let Some(url) = has("url", &Ty::String).filter(|f| !f.is_option()) else {
            return quote!();
        };
        let rt = &self.runtime;
        let url = ident(&url.ident);
        let content_type = has("content_type", &Ty::String).map(|f| {
            let fname = ident(&f.ident);
            let body = if f.is_option() {
                quote!(self.#fname.as_deref())
            } else {
                quote!(Some(&self.#fname))
            };
            quote!(#[inline] fn content_type(&self) -> Option<&str> { #body })
        });
        let file_size = has("file_size", &Ty::Integer).map(|f| {
            let fname = ident(&f.ident);
            let body = if f.is_option() {
                quote!(self.#fname.and_then(|n| u64::try_from(n).ok()))
            } else {
                quote!(u64::try_from(self.#fname).ok())
            };
            quote!(#[inline] fn file_size(&self) -> Option<u64> { #body })
        });
        quote! {
            #allow_deprecated
            impl #rt::files::RemoteFile for #name {
                #[inline]
                fn url(&self) -> &str { &self.#url }
                #content_type
                #file_size
            }
        }
    }

    fn redacted_debug(
        &self,
        name: &Ident,
        fields: &[Field],
        extra: Option<&str>,
        allow_deprecated: &TokenStream,
    ) -> TokenStream {
        let name_str = name.to_string();
        let entries: Vec<TokenStream> = fields
            .iter()
            .map(|f| {
                let fname = ident(&f.ident);
                let label = f.ident.strip_prefix("r#").unwrap_or(&f.ident);
                if !f.secret {
                    quote!(.field(#label, &self.#fname))
                } else if f.is_option() {
                    quote!(.field(#label, &self.#fname.as_ref().map(|_| "<redacted>")))
                } else {
                    quote!(.field(#label, &"<redacted>"))
                }
            })
            .collect();
        let entries = match extra {
            Some(x) => {
                let xi = ident(x);
                let mut entries = entries;
                entries.push(quote!(.field(#x, &self.#xi)));
                entries
            }
            None => entries,
        };
        quote! {
            #allow_deprecated
            /// Credentials are redacted.
            impl std::fmt::Debug for #name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct(#name_str) #(#entries)* .finish()
                }
            }
        }
    }

    /// The documentation of a field: the document's description, default, constraints and an
    /// example, and the values an enum field lists.
    fn field_doc(&self, f: &Field) -> String {
        let mut text = doc_text(&f.docs, &format!("`{}`", f.wire));
        if let Some(values) = self.listed_values(&f.ty) {
            text.push_str(&format!("\nAllowed values: {values}.\n"));
        }
        text
    }

    /// `` `a`, `b` or any other value `` for a field whose type is an open enum.
    fn listed_values(&self, t: &Ty) -> Option<String> {
        let r = match t {
            Ty::Named(r) => *r,
            Ty::Array(inner) | Ty::Optional(inner) => return self.listed_values(inner),
            _ => return None,
        };
        let shown: Vec<String> = match &self.api.ty(r).kind {
            TypeKind::StrEnum { variants, .. } => {
                variants.iter().map(|v| format!("`{:?}`", v.wire)).collect()
            }
            TypeKind::IntEnum { variants, .. } => {
                variants.iter().map(|v| format!("`{}`", v.wire)).collect()
            }
            _ => return None,
        };
        const SHOWN: usize = 12;
        let more = shown.len().saturating_sub(SHOWN);
        let mut list = shown.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        Some(list)
    }

    /// `new(required...)` and a setter per optional field. The constructor takes `prompt`
    /// first when it is required, then the other required fields in document order (so
    /// `new(prompt, image_url)` on every endpoint that needs both).
    ///
    /// Types reachable from an input get a setter per optional field. Output-only types get
    /// `new` alone: a test sets their optional fields by assignment (`out.seed = Some(3)`),
    /// which keeps compiling when fal adds fields, and costs no build time for setters nobody
    /// calls on a response.
    fn builder(
        &self,
        def: &TypeDef,
        name: &Ident,
        scope: Scope,
        fields: &[Field],
        extra: Option<&str>,
        allow_deprecated: &TokenStream,
    ) -> TokenStream {
        // A setter must not shadow the `RemoteFile` methods of a file type.
        let remote_file = fields
            .iter()
            .any(|f| f.wire == "url" && f.ty == Ty::String && !f.is_option());
        let shadows =
            |ident: &str| remote_file && ["url", "content_type", "file_size"].contains(&ident);
        let mut params = Vec::new();
        let mut inits = Vec::new();
        let mut setters = Vec::new();
        let mut ordered: Vec<&Field> = fields
            .iter()
            .filter(|f| f.required && f.wire == "prompt")
            .collect();
        ordered.extend(
            fields
                .iter()
                .filter(|f| !(f.required && f.wire == "prompt")),
        );
        for f in ordered {
            let fname = ident(&f.ident);
            let value = quote!(#fname);
            if f.required {
                let (pty, conv) = if f.nullable {
                    let mut t = self.ty(&f.ty, scope);
                    if self.boxed(&f.ty) {
                        t = quote!(Box<#t>);
                    }
                    (quote!(Option<#t>), quote!(#fname))
                } else {
                    self.param(&f.ty, scope, &value)
                };
                params.push(quote!(#fname: #pty));
                if conv.to_string() == *fname.to_string() {
                    inits.push(quote!(#fname));
                } else {
                    inits.push(quote!(#fname: #conv));
                }
            } else {
                inits.push(quote!(#fname: None));
                if !def.builder || shadows(&f.ident) {
                    continue;
                }
                let (pty, conv) = self.param(&f.ty, scope, &quote!(value));
                let setter_name = match f.ident.as_str() {
                    // The constructor's name; a field may be called `set_new` as well.
                    "new" => ["set_new", "set_new_field", "set_new_value"]
                        .into_iter()
                        .find(|name| {
                            !fields.iter().any(|o| o.ident == *name) && extra != Some(*name)
                        })
                        .unwrap_or("set_new_field")
                        .to_owned(),
                    other => other.to_owned(),
                };
                let setter = ident(&setter_name);
                let sdoc = doc_attrs(&format!("Sets `{}`.\n\n{}", f.wire, self.field_doc(f)));
                let deprecated = if f.deprecated {
                    quote!(#[deprecated(note = "deprecated in the endpoint's document")])
                } else {
                    quote!()
                };
                setters.push(quote! {
                    #sdoc
                    #deprecated
                    #[must_use]
                    #[inline]
                    pub fn #setter(mut self, value: #pty) -> Self {
                        self.#fname = Some(#conv);
                        self
                    }
                });
            }
        }
        if let Some(x) = extra {
            let xi = ident(x);
            inits.push(quote!(#xi: serde_json::Map::new()));
            let place = if def.role == Role::Input {
                "top-level key"
            } else {
                "key of this object"
            };
            let doc = format!(
                " Sets a field this version of the bindings does not declare (sent as a\n \
                 {place}, as fal adds parameters). A declared field's own setter is the\n \
                 typed way; a key set both ways is sent once, with the declared value."
            );
            let doc: Vec<&str> = doc.lines().collect();
            setters.push(quote! {
                #(#[doc = #doc])*
                #[must_use]
                #[inline]
                pub fn #xi(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
                    self.#xi.insert(key.into(), value.into());
                    self
                }
            });
        }
        let takes = if params.is_empty() {
            "with every field unset"
        } else if fields.iter().any(|f| f.required && f.wire == "prompt") && params.len() > 1 {
            "from its required fields (`prompt` first, then the others in the document's order)"
        } else {
            "from its required fields, in the document's order"
        };
        let rest = if def.builder {
            "optional fields stay unset (the server's defaults apply)"
        } else {
            "set optional fields by assignment (`value.field = Some(..)`)"
        };
        let ctor_doc = format!(" Creates a value {takes}; {rest}.");
        // Constructors mirror the schema's required fields one to one, however many.
        let allow = if params.len() > 7 {
            quote!(#[allow(clippy::too_many_arguments)])
        } else {
            quote!()
        };
        quote! {
            #allow_deprecated
            impl #name {
                #[doc = #ctor_doc]
                #allow
                #[inline]
                pub fn new(#(#params),*) -> Self {
                    Self { #(#inits),* }
                }
                #(#setters)*
            }
        }
    }

    /// `Endpoint`, and `JsonSchema` with the document's own input schema (see `schema_export`).
    fn endpoint_impl(&self, name: &Ident, scope: Scope, def: &TypeDef) -> TokenStream {
        let Scope::Endpoint(e) = scope else {
            return quote!();
        };
        let rt = &self.runtime;
        let ep = &self.api.endpoints[e];
        let id = &ep.id;
        let out = ident(&self.name_in(ep.output, scope));
        let schema_name = &def.base_name;
        let schema = &ep.input_schema;
        let secrets = secret_fields(self.api, ep.input);
        let secrets = if secrets.is_empty() {
            quote!()
        } else {
            quote!(const SECRET_FIELDS: &'static [&'static str] = &[#(#secrets),*];)
        };
        quote! {
            impl #rt::Endpoint for #name {
                const ENDPOINT_ID: &'static str = #id;
                type Output = #out;
                #secrets
            }
            /// The input schema of the document, with references inlined: a ready tool definition.
            impl #rt::codegen_support::__schemars::JsonSchema for #name {
                #[inline]
                fn schema_name() -> std::borrow::Cow<'static, str> {
                    std::borrow::Cow::Borrowed(#schema_name)
                }
                #[inline]
                fn json_schema(_: &mut #rt::codegen_support::__schemars::SchemaGenerator) -> #rt::codegen_support::__schemars::Schema {
                    #rt::codegen_support::schema_from_json(#schema)
                }
            }
        }
    }

    /// The items of one endpoint module (child modules are declared by the caller).
    pub fn endpoint_items(&self, e: usize) -> TokenStream {
        let ep = &self.api.endpoints[e];
        let scope = Scope::Endpoint(e);
        let root = &self.root_from[e];
        let id = &ep.id;
        let reexports: Vec<TokenStream> = ep
            .reexports
            .iter()
            .map(|(local, c)| {
                let shared = ident(self.api.ty(*c).shared_name.as_deref().unwrap_or(local));
                let local = ident(local);
                // Re-exports keep each endpoint's own names; not every one is used inside the
                // module (an included, private copy of the bindings would warn).
                if shared == local {
                    quote!(#[allow(unused_imports)] pub use #root::types::#shared;)
                } else {
                    quote!(#[allow(unused_imports)] pub use #root::types::#shared as #local;)
                }
            })
            .collect();
        let mut order: Vec<TypeRef> = Vec::new();
        for r in [ep.input, ep.output] {
            if ep.types.contains(&r) && !order.contains(&r) {
                order.push(r);
            }
        }
        order.extend(
            ep.types
                .iter()
                .filter(|r| **r != ep.input && **r != ep.output),
        );
        let defs: Vec<TokenStream> = order.iter().map(|r| self.type_def(*r, scope)).collect();
        quote! {
            /// The endpoint id, as the queue API takes it.
            pub const ENDPOINT_ID: &str = #id;
            #(#reexports)*
            #(#defs)*
        }
    }

    /// The items of the shared module.
    pub fn shared_items(&self) -> TokenStream {
        let defs: Vec<TokenStream> = self
            .api
            .shared
            .iter()
            .map(|r| self.type_def(*r, Scope::Shared))
            .collect();
        quote!(#(#defs)*)
    }
}

/// An open enum: its variants, a catch-all keeping unlisted values, and the runtime macro that
/// maps them to and from the wire. `kind` is the macro's flavour and the catch-all's payload.
#[allow(clippy::too_many_arguments)]
fn open_enum<'a>(
    rt: &TokenStream,
    name: &Ident,
    docs: TokenStream,
    idents: impl Iterator<Item = &'a str>,
    wires: Vec<TokenStream>,
    vdocs: Vec<String>,
    catch_all: &str,
    (flavour, payload): (TokenStream, TokenStream),
) -> TokenStream {
    let idents: Vec<Ident> = idents.map(ident).collect();
    let other = ident(catch_all);
    quote! {
        #docs
        // Equality and hashing follow the wire value (`open_enum!`), so a known value held in
        // the catch-all still equals its variant.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum #name {
            #( #[doc = #vdocs] #idents, )*
            /// A value this version of the bindings does not list, kept as sent.
            #other(#payload),
        }
        #rt::open_enum!(#name: #flavour { #(#idents => #wires),* } else #other);
    }
}

impl Emitter<'_> {
    /// The documentation of a type whose schema has no description: what it is for, read from
    /// where it is used (the fields that hold it), and for an enum how many values it lists
    /// and its default. Never just its own name.
    fn default_doc(&self, r: TypeRef, scope: Scope) -> String {
        let def = self.api.ty(r);
        let id = &self.api.endpoints[def.owner].id;
        match def.role {
            Role::Input => return format!("The input of `{id}`."),
            Role::Output => return format!("The output of `{id}`."),
            Role::Other => {}
        }
        let holders = self.holders(r, scope);
        let used = if holders.is_empty() {
            format!("A type of `{id}`")
        } else {
            const SHOWN: usize = 4;
            let more = holders.len().saturating_sub(SHOWN);
            let mut list = holders.iter().take(SHOWN).cloned().collect::<Vec<_>>();
            if more > 0 {
                list.push(format!("{more} more"));
            }
            let list = match list.len() {
                1 => list.remove(0),
                n => format!("{} and {}", list[..n - 1].join(", "), list[n - 1]),
            };
            format!("Held by {list}")
        };
        // The default lives on the field (two fields of one type may differ there); with one
        // holder, that field's default is this value's default.
        let default = def.docs.default.clone().or_else(|| self.holder_default(r));
        let default = default
            .map(|d| format!(", default {}", show(&d)))
            .unwrap_or_default();
        match &def.kind {
            TypeKind::Union { variants } => {
                let names: Vec<String> =
                    variants.iter().map(|v| format!("`{}`", v.ident)).collect();
                format!("One of {}. {used}.", names.join(", "))
            }
            TypeKind::StrEnum { variants, .. } => {
                let n = count(variants.len(), "listed value");
                format!("A string of {n}{default}. {used}.")
            }
            TypeKind::IntEnum { variants, .. } => {
                let n = count(variants.len(), "listed value");
                format!("An integer of {n}{default}. {used}.")
            }
            TypeKind::Struct { fields } => {
                format!("An object of {}. {used}.", count(fields.len(), "field"))
            }
            TypeKind::Alias(_) | TypeKind::Newtype(_) => format!("{used}."),
        }
    }

    /// The types of the endpoint that defined `r` that may hold it: its input, its output and
    /// its own types, each once, in that order.
    fn holder_candidates(&self, r: TypeRef) -> Vec<TypeRef> {
        let ep = &self.api.endpoints[self.api.ty(r).owner];
        let mut out = vec![ep.input, ep.output];
        for &t in &ep.types {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        if ep.output == ep.input {
            out.remove(1);
        }
        out
    }

    /// Where a type is used in its endpoint: `` the `aspect_ratio` field of [`Input`] ``, one
    /// entry per holding field, union or alias, in definition order.
    fn holders(&self, r: TypeRef, scope: Scope) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.holder_candidates(r) {
            if t == r {
                continue;
            }
            let holder = self.api.ty(t);
            let link = format!("[`{}`]", self.name_in(t, scope));
            match &holder.kind {
                TypeKind::Struct { fields } => {
                    for f in fields.iter().filter(|f| mentions(&f.ty, r)) {
                        out.push(format!("the `{}` field of {link}", f.wire));
                    }
                }
                TypeKind::Union { variants } => {
                    if variants.iter().any(|v| mentions(&v.ty, r)) {
                        out.push(format!("a variant of {link}"));
                    }
                }
                TypeKind::Alias(t) | TypeKind::Newtype(t) => {
                    if mentions(t, r) {
                        out.push(link);
                    }
                }
                TypeKind::StrEnum { .. } | TypeKind::IntEnum { .. } => {}
            }
        }
        out
    }

    /// The default of the one field that holds a type, when exactly one field does.
    fn holder_default(&self, r: TypeRef) -> Option<Value> {
        let mut defaults = self
            .holder_candidates(r)
            .into_iter()
            .filter_map(|t| match &self.api.ty(t).kind {
                TypeKind::Struct { fields } => Some(fields),
                _ => None,
            })
            .flatten()
            .filter(|f| mentions(&f.ty, r));
        let first = defaults.next()?;
        if defaults.next().is_some() {
            return None;
        }
        // A list's default (`["glb"]`) is not one value's default.
        let direct = matches!(&first.ty, Ty::Named(x) if *x == r)
            || matches!(&first.ty, Ty::Optional(inner) if matches!(**inner, Ty::Named(x) if x == r));
        direct.then(|| first.docs.default.clone()).flatten()
    }
}

/// `1 field`, `3 fields`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Whether a type expression names `r` (directly, in a list, a map or an option).
fn mentions(t: &Ty, r: TypeRef) -> bool {
    match t {
        Ty::Named(x) => *x == r,
        Ty::Array(inner) | Ty::Map(inner) | Ty::Optional(inner) => mentions(inner, r),
        _ => false,
    }
}

/// The name of an input's map of undeclared fields: `extra`, unless the document declares a
/// field of that name.
fn extra_ident(fields: &[Field]) -> &'static str {
    ["extra", "extra_fields", "undeclared_fields"]
        .into_iter()
        .find(|x| {
            !fields
                .iter()
                .any(|f| f.ident == *x || f.ident == format!("r#{x}"))
        })
        .unwrap_or("undeclared_fields_map")
}

fn variant_doc(t: &Ty, em: &Emitter<'_>, scope: Scope) -> String {
    match t {
        Ty::String => "Any string.".into(),
        Ty::Integer => "An integer.".into(),
        Ty::Number => "A number.".into(),
        Ty::Boolean => "A boolean.".into(),
        Ty::Bytes => "Bytes.".into(),
        Ty::Any(_) => "Any JSON value.".into(),
        Ty::Array(_) => "A list.".into(),
        Ty::Map(_) => "A map.".into(),
        Ty::Optional(_) => "A value or null.".into(),
        Ty::Named(r) => format!("A [`{}`].", em.name_in(*r, scope)),
    }
}

/// The wire names of the secret fields (fal-schema's `is_secret`) at any depth of the type
/// `root`, sorted and deduplicated: `Endpoint::SECRET_FIELDS`, the fields the client scrubs
/// from errors, the same ones `Debug` redacts.
pub(crate) fn secret_fields(api: &Api, root: TypeRef) -> Vec<String> {
    fn ty(api: &Api, t: &Ty, seen: &mut Vec<TypeRef>, out: &mut Vec<String>) {
        match t {
            Ty::Array(inner) | Ty::Map(inner) | Ty::Optional(inner) => ty(api, inner, seen, out),
            Ty::Named(r) => named(api, *r, seen, out),
            Ty::String | Ty::Bytes | Ty::Integer | Ty::Number | Ty::Boolean | Ty::Any(_) => {}
        }
    }
    fn named(api: &Api, r: TypeRef, seen: &mut Vec<TypeRef>, out: &mut Vec<String>) {
        if seen.contains(&r) {
            return;
        }
        seen.push(r);
        match &api.ty(r).kind {
            TypeKind::Struct { fields } => {
                for f in fields {
                    if f.secret {
                        out.push(f.wire.clone());
                    }
                    ty(api, &f.ty, seen, out);
                }
            }
            TypeKind::Union { variants } => {
                for v in variants {
                    ty(api, &v.ty, seen, out);
                }
            }
            TypeKind::Alias(t) | TypeKind::Newtype(t) => ty(api, t, seen, out),
            TypeKind::StrEnum { .. } | TypeKind::IntEnum { .. } => {}
        }
    }
    let mut out = Vec::new();
    named(api, root, &mut Vec::new(), &mut out);
    out.sort();
    out.dedup();
    out
}
