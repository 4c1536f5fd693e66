//! The server's own OpenAPI 3 document: every route the router serves, with `sandbar-api`'s
//! types as the schemas (derived with utoipa, so a body type and its schema cannot disagree),
//! served unauthenticated at `GET /api-json`, where Daytona's NestJS app serves its own.
//!
//! The operations are a table in `routes.rs` rather than annotations on the handlers: the
//! toolbox's handlers live in another crate and take raw bytes (to answer malformed bodies with
//! the daemon's 400), so the table names the type each handler decodes. A plane test keeps the
//! table and the router's routes equal. Not in the document: the Socket.IO gateway under
//! `/api/socket.io/` (not an HTTP API) and the fallback that answers unknown routes.

mod routes;

use axum::http::header;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required, Response,
    ResponseBuilder,
};
use utoipa::ToSchema;

/// The name of the security scheme every authenticated route requires.
const BEARER: &str = "bearer";

/// `GET /api-json`: the document, built once.
pub async fn document() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        serde_json::to_string(&openapi()).unwrap_or_else(|e| panic!("the OpenAPI document does not serialize: {e}"))
    });
    ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], json.as_str())
}

/// The whole document.
pub fn openapi() -> OpenApi {
    let ops = routes::table();
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    collect::<sandbar_api::ErrorBody>(&mut schemas);
    let mut paths = PathsBuilder::new();
    for op in ops {
        for add in &op.collect {
            add(&mut schemas);
        }
        let (method, path) = (op.method.clone(), op.path);
        paths = paths.path(path, PathItem::new(method, op.build()));
    }
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    schemas.dedup_by(|a, b| a.0 == b.0);
    let bearer = Http::builder()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("API key")
        .description(Some("An API key (`sandbar keys create`, or the admin key `sandbar serve` prints)"))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Sandbar")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Daytona's control-plane API under /api and the toolbox of each sandbox under \
                     /toolbox/{sandboxId}, as Sandbar serves them. Every error is an ErrorBody.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(
            ComponentsBuilder::new()
                .schemas_from_iter(schemas)
                .security_scheme(BEARER, SecurityScheme::Http(bearer))
                .build(),
        ))
        .security(Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]))
        .build()
}

/// Adds `T`'s schema and those it refers to.
fn collect<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// The JSON type of a path or query parameter that has no `sandbar-api` type.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Text,
    Integer,
    Boolean,
    /// A date-time (RFC 3339; no zone means UTC).
    Time,
    /// Repeated (`states=a&states=b`) or comma-separated strings.
    List,
}

fn kind_schema(kind: Kind) -> RefOr<Schema> {
    use utoipa::openapi::{KnownFormat, SchemaFormat};
    let object = |ty| ObjectBuilder::new().schema_type(ty);
    RefOr::T(match kind {
        Kind::Text => object(Type::String).into(),
        Kind::Integer => object(Type::Integer).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))).into(),
        Kind::Boolean => object(Type::Boolean).into(),
        Kind::Time => object(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))).into(),
        Kind::List => ArrayBuilder::new().items(object(Type::String)).into(),
    })
}

type Collector = fn(&mut Vec<(String, RefOr<Schema>)>);

/// One operation of the table, built fluently.
pub(super) struct Op {
    method: HttpMethod,
    path: &'static str,
    operation: utoipa::openapi::path::Operation,
    collect: Vec<Collector>,
    responses: Vec<(String, Response)>,
}

impl Op {
    pub(super) fn new(method: HttpMethod, path: &'static str, id: &str, summary: &str) -> Op {
        let operation = OperationBuilder::new().operation_id(Some(id)).summary(Some(summary)).build();
        let mut op = Op { method, path, operation, collect: Vec::new(), responses: Vec::new() };
        // Every `{name}` of the path is a required string unless `path_param` says otherwise.
        for name in path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)) {
            op = op.param(ParameterIn::Path, name, kind_schema(Kind::Text), true);
        }
        op
    }

    fn param(mut self, place: ParameterIn, name: &str, schema: RefOr<Schema>, required: bool) -> Op {
        let parameter = ParameterBuilder::new()
            .name(name)
            .parameter_in(place)
            .required(if required { Required::True } else { Required::False })
            .schema(Some(schema))
            .build();
        self.operation.parameters.get_or_insert_with(Vec::new).push(parameter);
        self
    }

    /// Retypes path parameter `name` (declared a string by [`Op::new`]).
    pub(super) fn path_param(mut self, name: &str, kind: Kind) -> Op {
        let parameters = self.operation.parameters.iter_mut().flatten();
        match parameters.into_iter().find(|p| p.name == name && p.parameter_in == ParameterIn::Path) {
            Some(parameter) => parameter.schema = Some(kind_schema(kind)),
            None => panic!("{} has no path parameter {name}", self.path),
        }
        self
    }

    /// An optional query parameter without a `sandbar-api` type.
    pub(super) fn query(self, name: &str, kind: Kind) -> Op {
        self.param(ParameterIn::Query, name, kind_schema(kind), false)
    }

    /// The query parameters of `T`: one per property, required as `T` requires it.
    pub(super) fn query_of<T: ToSchema>(mut self) -> Op {
        let RefOr::T(Schema::Object(object)) = T::schema() else {
            panic!("query type {} is not an object", T::name());
        };
        for (name, schema) in object.properties {
            let required = object.required.contains(&name);
            self = self.param(ParameterIn::Query, &name, schema, required);
        }
        // Enum-typed properties refer to their own schemas.
        self.collect.push(collect::<T>);
        self
    }

    /// A JSON body of type `T`.
    pub(super) fn body<T: ToSchema>(mut self) -> Op {
        self.collect.push(collect::<T>);
        self.body_content("application/json", reference::<T>())
    }

    /// A body of media type `mime` with `schema` (multipart uploads, raw bytes).
    pub(super) fn body_raw(self, mime: &str, schema: Schema) -> Op {
        self.body_content(mime, RefOr::T(schema))
    }

    fn body_content(mut self, mime: &str, schema: RefOr<Schema>) -> Op {
        let body = self
            .operation
            .request_body
            .get_or_insert_with(|| RequestBodyBuilder::new().required(Some(Required::True)).build());
        body.content.insert(mime.to_string(), Content::new(Some(schema)));
        self
    }

    fn respond(mut self, status: u16, description: &str, content: Option<(&str, RefOr<Schema>)>) -> Op {
        let mut response = ResponseBuilder::new().description(description);
        if let Some((mime, schema)) = content {
            response = response.content(mime, Content::new(Some(schema)));
        }
        self.responses.push((status.to_string(), response.build()));
        self
    }

    /// Answers `status` with a JSON `T`.
    pub(super) fn ok<T: ToSchema>(mut self, status: u16) -> Op {
        self.collect.push(collect::<T>);
        self.respond(status, "success", Some(("application/json", reference::<T>())))
    }

    /// Answers `status` with a JSON array of `T`.
    pub(super) fn ok_list<T: ToSchema>(mut self, status: u16) -> Op {
        self.collect.push(collect::<T>);
        let array = ArrayBuilder::new().items(reference::<T>()).into();
        self.respond(status, "success", Some(("application/json", RefOr::T(array))))
    }

    /// Answers `status` with a JSON object of strings.
    pub(super) fn ok_map(self, status: u16) -> Op {
        let map = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
            .into();
        self.respond(status, "success", Some(("application/json", RefOr::T(map))))
    }

    /// Answers `status` with no body.
    pub(super) fn ok_empty(self, status: u16) -> Op {
        self.respond(status, "success, no body", None)
    }

    /// Answers `status` with a body of media type `mime` (text, bytes, multipart).
    pub(super) fn ok_raw(self, status: u16, mime: &str, schema: Schema) -> Op {
        self.respond(status, "success", Some((mime, RefOr::T(schema))))
    }

    /// Upgrades to a WebSocket (the request must carry the upgrade headers).
    pub(super) fn websocket(self) -> Op {
        self.respond(101, "switching protocols to a WebSocket", None)
    }

    /// Needs no API key.
    pub(super) fn public(mut self) -> Op {
        self.operation.security = Some(Vec::new());
        self
    }

    fn build(self) -> utoipa::openapi::path::Operation {
        let error = ResponseBuilder::new()
            .description("an error: the status says which (400, 401, 404, 409, 429, ...)")
            .content("application/json", Content::new(Some(reference::<sandbar_api::ErrorBody>())))
            .build();
        let mut operation = self.operation;
        for (status, response) in self.responses {
            operation.responses.responses.insert(status, RefOr::T(response));
        }
        operation.responses.responses.insert("default".to_string(), RefOr::T(error));
        operation
    }
}

/// A string schema (text bodies).
pub(super) fn text() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// A binary string schema (file bytes).
pub(super) fn binary() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary)))
        .into()
}
