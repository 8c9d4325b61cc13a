//! `GET /openapi.json`: placeholder until the document is assembled.
use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

/// Every API error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().finish()
}
