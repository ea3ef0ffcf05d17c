//! Invoice PDFs, written with `pdf-writer` (pure Rust, no external programs).
//!
//! **Fonts and the naira sign.** The document uses the standard Helvetica fonts every
//! PDF reader has, so nothing is embedded and a PDF is a few kilobytes. Those fonts
//! have no `₦` glyph, so an amount is drawn as an `N` with the sign's two horizontal
//! bars stroked across it, and the amount's marked-content span carries
//! `/ActualText (₦1,500.00)`, so copying, searching and screen readers get the real
//! sign. (Embedding a font with the glyph, e.g. DejaVu Sans, would add ~700 KB per
//! document or a font subsetter to the build.)
//!
//! Files live at `<data dir>/invoices/<organization id>/<invoice id>.pdf`; both path
//! parts are checked to be plain ids, so no name can climb out of the folder.

use crate::error::{ApiError, ApiResult};
use kobo_domain::money::{format_naira, Kobo};
use kobo_store::InvoiceRecord;
use pdf_writer::types::{ActionType, AnnotationType};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use serde::Deserialize;
use std::path::{Path, PathBuf};

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const LEFT: f32 = 50.0;
const RIGHT: f32 = PAGE_W - 50.0;

/// A party on the invoice, as stored in its `seller` / `buyer` JSON.
#[derive(Debug, Default, Deserialize)]
pub struct Party {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub tin: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// Helvetica's advance widths (per 1000 em) of the characters amounts use.
fn glyph_width(c: u8) -> f32 {
    match c {
        b'0'..=b'9' => 556.0,
        b',' | b'.' | b' ' => 278.0,
        b'-' => 333.0,
        b'N' => 722.0,
        _ => 556.0,
    }
}

/// WinAnsi bytes for the standard fonts: Latin-1 passes, `₦` becomes `N`, others `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '₦' => b'N',
            ' '..='~' => c as u8,
            c if ('\u{a0}'..='\u{ff}').contains(&c) => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            _ => b'?',
        })
        .collect()
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

struct Page {
    content: Content,
}

impl Page {
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let c = &mut self.content;
        c.begin_text();
        c.set_font(if bold { BOLD } else { REGULAR }, size);
        c.next_line(x, y);
        c.show(Str(&win_ansi(text)));
        c.end_text();
    }

    /// An amount right-aligned at `right`, with a drawn naira sign and its ActualText.
    fn amount(&mut self, right: f32, y: f32, size: f32, bold: bool, amount: Kobo) {
        let shown = format_naira(amount);
        let bytes = win_ansi(&shown);
        let width: f32 = bytes.iter().map(|&b| glyph_width(b)).sum::<f32>() * size / 1000.0;
        let x = right - width;
        let n_offset: f32 = bytes
            .iter()
            .take_while(|&&b| b != b'N')
            .map(|&b| glyph_width(b))
            .sum::<f32>()
            * size
            / 1000.0;
        let c = &mut self.content;
        c.begin_marked_content_with_properties(Name(b"Span"))
            .properties()
            .actual_text(TextStr(&shown));
        c.begin_text();
        c.set_font(if bold { BOLD } else { REGULAR }, size);
        c.next_line(x, y);
        c.show(Str(&bytes));
        c.end_text();
        c.end_marked_content();
        // The naira sign's two bars across the N (cap height 718/1000).
        let nx = x + n_offset;
        let n_width = 722.0 * size / 1000.0;
        c.set_line_width(size * 0.06);
        for bar in [0.36_f32, 0.60] {
            let by = y + size * 0.718 * bar;
            c.move_to(nx - size * 0.06, by);
            c.line_to(nx + n_width + size * 0.06, by);
        }
        c.stroke();
    }

    fn rule(&mut self, y: f32) {
        let c = &mut self.content;
        c.set_line_width(0.5);
        c.move_to(LEFT, y);
        c.line_to(RIGHT, y);
        c.stroke();
    }
}

fn party(raw: &str) -> Party {
    serde_json::from_str(raw).unwrap_or_default()
}

fn dmy(date: &str) -> String {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map(|d| d.format("%-d %B %Y").to_string())
        .unwrap_or_else(|_| date.to_string())
}

/// Renders `inv` to PDF bytes.
pub fn render(inv: &InvoiceRecord) -> Vec<u8> {
    let credit = inv.kind == "credit_note";
    let seller = party(&inv.seller);
    let buyer = party(&inv.buyer);
    let mut page = Page {
        content: Content::new(),
    };

    let title = if credit { "CREDIT NOTE" } else { "INVOICE" };
    page.text(LEFT, 780.0, 22.0, true, title);
    page.text(LEFT, 760.0, 11.0, true, &inv.number);

    // Seller, top right.
    let mut y = 780.0;
    page.text(340.0, y, 11.0, true, &clip(&seller.name, 40));
    for line in seller.address.iter().take(4) {
        y -= 13.0;
        page.text(340.0, y, 9.0, false, &clip(line, 48));
    }
    if let Some(tin) = &seller.tin {
        y -= 13.0;
        page.text(340.0, y, 9.0, false, &format!("TIN: {}", clip(tin, 40)));
    }
    if let Some(email) = &seller.email {
        y -= 13.0;
        page.text(340.0, y, 9.0, false, &clip(email, 48));
    }

    // Dates and status.
    let mut y = 725.0;
    let mut facts: Vec<(&str, String)> = vec![("Date", dmy(&inv.invoice_date))];
    if credit {
        if let Some(reason) = &inv.reason {
            facts.push(("Reason", clip(reason, 60)));
        }
    } else {
        facts.push(("Due date", format!("{} (WAT)", dmy(&inv.due_date))));
        if let (Some(s), Some(e)) = (inv.period_start, inv.period_end) {
            let day = |ms: i64| kobo_domain::calendar::lagos_date(kobo_domain::clock::from_ms(ms));
            let last = day(e).pred_opt().unwrap_or(day(e));
            facts.push((
                "Period",
                format!(
                    "{} – {}",
                    day(s).format("%-d %b %Y"),
                    last.format("%-d %b %Y")
                ),
            ));
        }
        facts.push(("Status", inv.status.clone()));
    }
    for (label, value) in &facts {
        page.text(LEFT, y, 9.0, true, label);
        page.text(LEFT + 70.0, y, 9.0, false, value);
        y -= 13.0;
    }

    // Buyer.
    let mut y = 725.0;
    page.text(340.0, y, 9.0, true, "Bill to");
    y -= 13.0;
    page.text(340.0, y, 10.0, false, &clip(&buyer.name, 44));
    for line in buyer.address.iter().take(3) {
        y -= 13.0;
        page.text(340.0, y, 9.0, false, &clip(line, 48));
    }
    if let Some(email) = &buyer.email {
        y -= 13.0;
        page.text(340.0, y, 9.0, false, &clip(email, 48));
    }
    if let Some(tin) = &buyer.tin {
        y -= 13.0;
        page.text(340.0, y, 9.0, false, &format!("TIN: {}", clip(tin, 40)));
    }

    // Lines.
    let mut y = 620.0;
    page.text(LEFT, y, 9.0, true, "Description");
    page.text(RIGHT - 60.0, y, 9.0, true, "Amount");
    y -= 6.0;
    page.rule(y);
    for line in inv.lines.iter().take(30) {
        y -= 16.0;
        page.text(LEFT, y, 9.0, false, &clip(&line.description, 80));
        page.amount(RIGHT, y, 9.0, false, line.amount_kobo);
    }
    y -= 8.0;
    page.rule(y);

    // Totals.
    let rate = format!(
        "{}.{}%",
        inv.tax_basis_points / 100,
        (inv.tax_basis_points % 100) / 10
    );
    let mut totals: Vec<(String, Kobo, bool)> = vec![
        ("Subtotal".into(), Kobo(inv.subtotal_kobo), false),
        (
            format!("{} ({rate})", inv.tax_name),
            Kobo(inv.tax_kobo),
            false,
        ),
        ("Total".into(), Kobo(inv.total_kobo), true),
    ];
    if !credit {
        totals.push(("Paid".into(), Kobo(inv.amount_paid_kobo), false));
        totals.push(("Amount due".into(), Kobo(inv.amount_due_kobo), true));
    }
    for (label, amount, bold) in &totals {
        y -= 16.0;
        page.text(330.0, y, 10.0, *bold, label);
        page.amount(RIGHT, y, 10.0, *bold, *amount);
    }

    // Payment link.
    let mut link_rect = None;
    if let (false, Some(url)) = (credit, inv.payment_url.as_deref()) {
        y -= 36.0;
        page.text(LEFT, y, 10.0, true, "Pay online");
        let mut ly = y;
        let chars: Vec<char> = url.chars().collect();
        for chunk in chars.chunks(95).take(4) {
            ly -= 12.0;
            page.text(LEFT, ly, 8.0, false, &chunk.iter().collect::<String>());
        }
        link_rect = Some((Rect::new(LEFT, ly - 2.0, RIGHT, y - 2.0), url.to_string()));
        y = ly;
    }
    if let Some(ref_for) = &inv.credit_for {
        y -= 24.0;
        page.text(
            LEFT,
            y,
            9.0,
            false,
            &format!("Credits invoice {}", clip(ref_for, 60)),
        );
    }
    page.text(
        LEFT,
        60.0,
        7.5,
        false,
        "Amounts in Nigerian naira (NGN). Dates in Africa/Lagos time (WAT). Issued invoices are never altered; corrections are credit notes.",
    );

    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let page_id = Ref::new(3);
    let regular = Ref::new(4);
    let bold = Ref::new(5);
    let contents = Ref::new(6);
    let info = Ref::new(7);
    let annot = Ref::new(8);
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut p = pdf.page(page_id);
    p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
    p.parent(tree);
    p.contents(contents);
    if link_rect.is_some() {
        p.annotations([annot]);
    }
    {
        let mut res = p.resources();
        let mut fonts = res.fonts();
        fonts.pair(REGULAR, regular);
        fonts.pair(BOLD, bold);
    }
    p.finish();
    if let Some((rect, url)) = &link_rect {
        let mut a = pdf.annotation(annot);
        a.subtype(AnnotationType::Link);
        a.rect(*rect);
        a.action()
            .action_type(ActionType::Uri)
            .uri(Str(url.as_bytes()));
        a.finish();
    }
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    let body = page.content.finish();
    pdf.stream(contents, body.as_slice());
    pdf.document_info(info)
        .title(TextStr(&format!("{title} {}", inv.number)))
        .producer(TextStr("Kobo"));
    pdf.finish()
}

/// A plain id: 1–64 ASCII letters, digits, `-` or `_`.
fn plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `<data dir>/invoices/<org>/<id>.pdf`, refusing anything but plain ids.
pub fn path_for(data_dir: &Path, inv: &InvoiceRecord) -> ApiResult<PathBuf> {
    let org = inv.org_id.to_string();
    if !plain_id(&org) || !plain_id(&inv.id) {
        return Err(ApiError::not_found("invoice"));
    }
    let base = data_dir.join("invoices");
    let path = base.join(&org).join(format!("{}.pdf", inv.id));
    if !path.starts_with(&base) {
        return Err(ApiError::not_found("invoice"));
    }
    Ok(path)
}

/// Renders and stores the PDF (write to a temporary file, then rename); returns the bytes.
pub async fn store(data_dir: &Path, inv: &InvoiceRecord) -> ApiResult<Vec<u8>> {
    let path = path_for(data_dir, inv)?;
    let bytes = render(inv);
    write(&path, bytes).await
}

async fn write(path: &Path, bytes: Vec<u8>) -> ApiResult<Vec<u8>> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    // A name of its own per write, so two writers never interleave in one file.
    let tmp = path.with_extension(format!("pdf.{}.tmp", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&tmp, &bytes)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(bytes)
}

/// The PDF of the invoice as its row stands now. The stored file is (re)written when it
/// is missing or was rendered before the row changed (e.g. a webhook marked the invoice
/// paid, which renders nothing), so a download never shows a stale status. Rendering is
/// deterministic, so an unchanged invoice's file is left alone.
pub async fn load(data_dir: &Path, inv: &InvoiceRecord) -> ApiResult<Vec<u8>> {
    let path = path_for(data_dir, inv)?;
    let current = render(inv);
    match tokio::fs::read(&path).await {
        Ok(stored) if stored == current => Ok(stored),
        Ok(_) => write(&path, current).await,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write(&path, current).await,
        Err(e) => Err(ApiError::internal(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_ansi_keeps_latin1_and_draws_the_naira_sign_as_n() {
        assert_eq!(win_ansi("₦1,500.00"), b"N1,500.00");
        assert_eq!(win_ansi("Café"), b"Caf\xe9");
        assert_eq!(win_ansi("日本"), b"??");
    }

    #[test]
    fn only_plain_ids_make_paths() {
        assert!(plain_id("inv_0193abc"));
        for bad in ["", "../x", "a/b", "a\\b", "..", "x.pdf"] {
            assert!(!plain_id(bad), "{bad}");
        }
    }
}
