//! The zip package of a hand-written workbook ([`super::listbook`],
//! [`super::table`]): a temporary file beside the workbook's path, the sheets
//! deflated into it as they are written, then the parts that name the sheets
//! (known only at the end), synced and handed back staged.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rust_xlsxwriter::utility::quote_sheet_name;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::sheetxml::{escape_attr, NS_MAIN, NS_REL, XML_DECL};
use super::{ReportError, Staged};
use crate::fsutil::{create_private_dir, EarlyWrite};

/// styles.xml of a list: default, title, sub-title right, header, 序号, text,
/// amount, 合计 text and 合计 amount.
pub(super) const STYLES: &str = include_str!("parts/styles.xml");
/// styles.xml of the 本次无发放数据 workbook (the default style only).
const STYLES_EMPTY: &str = include_str!("parts/styles_empty.xml");
const THEME: &str = include_str!("parts/theme1.xml");

const NS_PKG_REL: &str = "http://schemas.openxmlformats.org/package/2006/relationships";

/// Row XML gathered before it is handed to the compressor.
const FLUSH_AT: usize = 1 << 18;

type Zip = ZipWriter<StreamWriter<TmpFile>>;

/// The temporary file, which an abandoned writer stops writing to: the zip
/// crate finishes an archive it is dropped with (wasted work on a file about to
/// be deleted) and reports any failure to do so on stderr, which would break a
/// JSON log.
struct TmpFile {
    file: BufWriter<EarlyWrite>,
    abandoned: Arc<AtomicBool>,
}

impl Write for TmpFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.file.flush()
    }
}

/// A workbook's zip being written: the sheets' XML gathers in `buf` and goes
/// to the compressor in large blocks.
pub(super) struct ZipSink {
    path: PathBuf,
    /// Taken by `finish`; declared before `tmp`: dropped (closing the file)
    /// before the file is deleted.
    zip: Option<Zip>,
    tmp: Option<tempfile::TempPath>,
    /// Set when the sink is dropped unfinished.
    abandoned: Arc<AtomicBool>,
    /// XML not yet handed to the compressor.
    pub(super) buf: Vec<u8>,
}

impl ZipSink {
    /// Creates the temporary file beside `path`, in a private folder (a roster
    /// holds full IDs).
    pub(super) fn new(path: &Path) -> Result<ZipSink, ReportError> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let io_err = |e: io::Error| ReportError::io(path, e);
        create_private_dir(dir).map_err(io_err)?;
        let tmp = tempfile::Builder::new().prefix(".tmp-xlsx-").tempfile_in(dir).map_err(io_err)?;
        let (file, tmp) = tmp.into_parts();
        let abandoned = Arc::new(AtomicBool::new(false));
        let file =
            TmpFile { file: BufWriter::with_capacity(1 << 20, EarlyWrite::new(file)), abandoned: abandoned.clone() };
        Ok(ZipSink {
            path: path.to_path_buf(),
            zip: Some(ZipWriter::new_stream(file)),
            tmp: Some(tmp),
            abandoned,
            buf: Vec::with_capacity(FLUSH_AT + (1 << 16)),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the gathered XML to the compressor once there is enough of it.
    pub(super) fn flush_if_full(&mut self) -> Result<(), ReportError> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the gathered XML to the compressor.
    pub(super) fn flush(&mut self) -> Result<(), ReportError> {
        let zip = self.zip.as_mut().expect("the zip is open until finish");
        zip.write_all(&self.buf).map_err(|e| ReportError::io(&self.path, e))?;
        self.buf.clear();
        Ok(())
    }

    /// Starts zip entry `name` (the previous one is closed).
    pub(super) fn start_part(&mut self, name: &str) -> Result<(), ReportError> {
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            // Fastest deflate: half the time of the default for ~70% more bytes.
            .compression_level(Some(1))
            .unix_permissions(0o600)
            .last_modified_time(DateTime::default())
            // No ZIP64, as before, so that any reader opens it: a sheet
            // past 4 GB (a million rows of ~4 KB) fails instead.
            .large_file(false);
        let zip = self.zip.as_mut().expect("the zip is open until finish");
        zip.start_file(name, opts).map_err(|e| ReportError::Xlsx { path: self.path.clone(), message: e.to_string() })
    }

    /// A whole part at once.
    pub(super) fn part(&mut self, name: &str, xml: &str) -> Result<(), ReportError> {
        self.start_part(name)?;
        let zip = self.zip.as_mut().expect("the zip is open until finish");
        zip.write_all(xml.as_bytes()).map_err(|e| ReportError::io(&self.path, e))
    }

    /// The sheets `names` are all written: writes the package parts and syncs
    /// the file beside its path, not yet renamed in. `with_lines` false for the
    /// 本次无发放数据 workbook ([`EMPTY_SHEET`]).
    pub(super) fn finish(mut self, names: &[String], with_lines: bool) -> Result<Staged, ReportError> {
        let parts = Package { names, print_titles: with_lines };
        self.part("[Content_Types].xml", &parts.content_types())?;
        self.part("_rels/.rels", ROOT_RELS)?;
        self.part("xl/_rels/workbook.xml.rels", &parts.workbook_rels())?;
        self.part("xl/theme/theme1.xml", THEME)?;
        self.part("xl/styles.xml", if with_lines { STYLES } else { STYLES_EMPTY })?;
        self.part("xl/workbook.xml", &parts.workbook())?;
        if !with_lines {
            self.part("xl/sharedStrings.xml", EMPTY_STRINGS)?;
        }
        self.part("docProps/core.xml", &core_props())?;
        self.part("docProps/app.xml", &parts.app())?;
        let path = self.path.clone();
        let (Some(zip), Some(tmp)) = (self.zip.take(), self.tmp.take()) else {
            unreachable!("finish takes the sink by value")
        };
        let io_err = |e: io::Error| ReportError::io(&path, e);
        let w = zip.finish().map_err(|e| ReportError::Xlsx { path: path.clone(), message: e.to_string() })?;
        let file = w.into_inner().file.into_inner().map_err(|e| io_err(e.into_error()))?.into_inner();
        file.sync_all().map_err(io_err)?;
        Ok(Staged { tmp, path })
    }
}

impl Drop for ZipSink {
    /// Unfinished: nothing more is written, and the temporary file is deleted.
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

pub(super) const EMPTY_SHEET: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" ",
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><dimension ref=\"A1\"/>",
    "<sheetViews><sheetView tabSelected=\"1\" workbookViewId=\"0\"/></sheetViews><sheetFormatPr defaultRowHeight=\"15\"/>",
    "<sheetData><row r=\"1\" spans=\"1:1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row></sheetData>",
    "<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/></worksheet>"
);

const EMPTY_STRINGS: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"1\" uniqueCount=\"1\">",
    "<si><t>本次无发放数据</t></si></sst>"
);

const ROOT_RELS: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>",
    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>",
    "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties\" Target=\"docProps/app.xml\"/>",
    "</Relationships>"
);

/// The parts that name the sheets, written once all are known.
struct Package<'a> {
    names: &'a [String],
    /// A workbook with lines: every sheet repeats its header row (row 3) on
    /// each printed page. Without, its one text is in a shared-strings part.
    print_titles: bool,
}

impl Package<'_> {
    fn content_types(&self) -> String {
        let ct = "application/vnd.openxmlformats";
        let mut s = format!(
            "{XML_DECL}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
             <Default Extension=\"rels\" ContentType=\"{ct}-package.relationships+xml\"/>\
             <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
             <Override PartName=\"/docProps/app.xml\" ContentType=\"{ct}-officedocument.extended-properties+xml\"/>\
             <Override PartName=\"/docProps/core.xml\" ContentType=\"{ct}-package.core-properties+xml\"/>\
             <Override PartName=\"/xl/styles.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.styles+xml\"/>\
             <Override PartName=\"/xl/theme/theme1.xml\" ContentType=\"{ct}-officedocument.theme+xml\"/>\
             <Override PartName=\"/xl/workbook.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.sheet.main+xml\"/>"
        );
        for i in 1..=self.names.len() {
            s += &format!(
                "<Override PartName=\"/xl/worksheets/sheet{i}.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.worksheet+xml\"/>"
            );
        }
        if !self.print_titles {
            s += &format!(
                "<Override PartName=\"/xl/sharedStrings.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.sharedStrings+xml\"/>"
            );
        }
        s + "</Types>"
    }

    fn workbook_rels(&self) -> String {
        let t = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
        let mut s = format!("{XML_DECL}<Relationships xmlns=\"{NS_PKG_REL}\">");
        let n = self.names.len();
        for i in 1..=n {
            s += &format!("<Relationship Id=\"rId{i}\" Type=\"{t}/worksheet\" Target=\"worksheets/sheet{i}.xml\"/>");
        }
        s += &format!("<Relationship Id=\"rId{}\" Type=\"{t}/theme\" Target=\"theme/theme1.xml\"/>", n + 1);
        s += &format!("<Relationship Id=\"rId{}\" Type=\"{t}/styles\" Target=\"styles.xml\"/>", n + 2);
        if !self.print_titles {
            let target = "Target=\"sharedStrings.xml\"";
            s += &format!("<Relationship Id=\"rId{}\" Type=\"{t}/sharedStrings\" {target}/>", n + 3);
        }
        s + "</Relationships>"
    }

    /// Print titles as Excel keeps them: sorted by their range text.
    fn print_titles(&self) -> Vec<(usize, String)> {
        if !self.print_titles {
            return Vec::new();
        }
        let mut v: Vec<(usize, String)> =
            self.names.iter().enumerate().map(|(i, n)| (i, quote_sheet_name(n))).collect();
        v.sort_by_key(|(_, q)| format!("{q}!$3:$3"));
        v
    }

    fn workbook(&self) -> String {
        let mut s = format!(
            "{XML_DECL}<workbook xmlns=\"{NS_MAIN}\" xmlns:r=\"{NS_REL}\">\
             <fileVersion appName=\"xl\" lastEdited=\"4\" lowestEdited=\"4\" rupBuild=\"4505\"/>\
             <workbookPr defaultThemeVersion=\"124226\"/><bookViews>\
             <workbookView xWindow=\"240\" yWindow=\"15\" windowWidth=\"16095\" windowHeight=\"9660\"/></bookViews><sheets>"
        );
        for (i, n) in self.names.iter().enumerate() {
            s += &format!("<sheet name=\"{}\" sheetId=\"{}\" r:id=\"rId{}\"/>", escape_attr(n), i + 1, i + 1);
        }
        s += "</sheets>";
        let titles = self.print_titles();
        if !titles.is_empty() {
            s += "<definedNames>";
            for (i, q) in &titles {
                let q = escape_attr(q);
                s += &format!("<definedName name=\"_xlnm.Print_Titles\" localSheetId=\"{i}\">{q}!$3:$3</definedName>");
            }
            s += "</definedNames>";
        }
        s + "<calcPr calcId=\"124519\" fullCalcOnLoad=\"1\"/></workbook>"
    }

    fn app(&self) -> String {
        let titles = self.print_titles();
        let (n, m) = (self.names.len(), titles.len());
        let variant = |name: &str, count: usize| {
            format!(
                "<vt:variant><vt:lpstr>{name}</vt:lpstr></vt:variant><vt:variant><vt:i4>{count}</vt:i4></vt:variant>"
            )
        };
        let mut pairs = variant("Worksheets", n);
        if m > 0 {
            pairs += &variant("Named Ranges", m);
        }
        let mut parts = String::new();
        for name in self.names {
            parts += &format!("<vt:lpstr>{}</vt:lpstr>", escape_attr(name));
        }
        for (_, q) in &titles {
            parts += &format!("<vt:lpstr>{}!Print_Titles</vt:lpstr>", escape_attr(q));
        }
        format!(
            "{XML_DECL}<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\" \
             xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\">\
             <Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>\
             <HeadingPairs><vt:vector size=\"{}\" baseType=\"variant\">{pairs}</vt:vector></HeadingPairs>\
             <TitlesOfParts><vt:vector size=\"{}\" baseType=\"lpstr\">{parts}</vt:vector></TitlesOfParts>\
             <Company></Company><LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc>\
             <HyperlinksChanged>false</HyperlinksChanged><AppVersion>12.0000</AppVersion></Properties>",
            if m > 0 { 4 } else { 2 },
            n + m
        )
    }
}

/// docProps/core.xml: created now (UTC), no author.
fn core_props() -> String {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        "{XML_DECL}<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:dcmitype=\"http://purl.org/dc/dcmitype/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <dc:creator></dc:creator><cp:lastModifiedBy></cp:lastModifiedBy>\
         <dcterms:created xsi:type=\"dcterms:W3CDTF\">{now}</dcterms:created>\
         <dcterms:modified xsi:type=\"dcterms:W3CDTF\">{now}</dcterms:modified></cp:coreProperties>"
    )
}
