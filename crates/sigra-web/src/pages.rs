//! Plain, accessible HTML for the default pages, rendered from the templates
//! in [`crate::templates`]. No inline script or style: the stylesheet is
//! served from `/sigra/style.css`, so the strict CSP holds.

use askama::Template;
use axum::response::Html;

use crate::templates::{ErrorPage, Frame};

/// The stylesheet, served at `/sigra/style.css`.
pub(crate) const STYLESHEET: &str = "\
:root{font-family:system-ui,sans-serif;line-height:1.5;color:#1b1b1f;background:#fafafa}\
body{max-width:40rem;margin:0 auto;padding:1rem 1.5rem}\
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;border-bottom:1px solid #ddd;margin-bottom:1.5rem}\
header nav{display:flex;gap:.75rem;align-items:center}\
a{color:#1d4ed8}\
form.stack{display:grid;gap:.75rem;max-width:24rem}\
label{display:grid;gap:.25rem;font-weight:600}\
input[type=email],input[type=password],input[type=text]{font:inherit;padding:.5rem;border:1px solid #888;border-radius:.25rem}\
button{font:inherit;padding:.5rem 1rem;border:0;border-radius:.25rem;background:#1d4ed8;color:#fff;cursor:pointer}\
button.link{background:none;color:#1d4ed8;padding:0;text-decoration:underline}\
.inline{display:inline}\
.flash{padding:.75rem;border-radius:.25rem;margin-bottom:1rem}\
.flash.info{background:#e0f2fe}.flash.error,.error{background:#fee2e2;padding:.75rem;border-radius:.25rem}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}\
code{background:#eee;padding:.1rem .3rem;border-radius:.2rem}\
section{margin-bottom:2rem}\
form.row{margin:.5rem 0}\
figure.qr svg{width:14rem;height:auto;max-width:100%}\
#totp-secret,#otpauth-uri{word-break:break-all}\
ul.backup-codes{columns:2;font-family:ui-monospace,monospace;font-size:1.1rem}\
";

/// Renders a page. A template cannot fail on the values the pages hold
/// (writing into a `String` does not fail); should one ever fail, the answer
/// is a fixed page that says so rather than a panic.
pub(crate) fn render(page: &impl Template) -> Html<String> {
    Html(page.render().unwrap_or_else(|e| {
        tracing::error!(name: "sigra.web.render", error = %e);
        RENDER_FAILED.to_owned()
    }))
}

/// The page sent when a template fails to render.
const RENDER_FAILED: &str = "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Error · Sigra</title></head>\n<body><p>This page could not be shown. Please try again shortly.</p></body>\n</html>\n";

/// A bare error page (used by the layer, which has no user context).
pub(crate) fn error_page(title: &str, message: &str) -> Html<String> {
    render(&ErrorPage {
        frame: Frame {
            title,
            ..Frame::default()
        },
        message,
    })
}

/// The QR code of `data` as an inline SVG element: no XML declaration, no
/// `style` attributes (the CSP forbids inline styles), colours as `fill`.
pub(crate) fn qr_svg(data: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let start = image.find("<svg")?;
    let svg = &image[start..];
    Some(svg.replacen(
        "<svg",
        r#"<svg role="img" aria-label="QR code of the setup link""#,
        1,
    ))
}
