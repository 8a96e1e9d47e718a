//! The ceiling: a bare axum `GET /dashboard` answering an HTML page like the
//! signed-in one, with no session, no database and no auth.
//!
//! `bare --port N`

use axum::{Router, response::Html, routing::get};

async fn dashboard() -> Html<String> {
    let email = "bench@example.com";
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Dashboard</title></head>\
         <body><main><h1>Dashboard</h1><p>Signed in as {email}.</p></main></body></html>"
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map(|p| p.parse::<u16>())
        .transpose()?
        .unwrap_or(4001);
    let app = Router::new().route("/dashboard", get(dashboard));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
