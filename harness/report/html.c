/*
 * html.c - report.html's markup: one file, no external resources (inline CSS
 * with a print style, inline SVG charts, one inline script that sorts a table
 * by the clicked column). stdio only. Leaves out: any other script, and
 * styling beyond the tables and the chart grid.
 */
#include "report/html.h"

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>ipclab report</title>\n<style>\n"
    "body{font-family:sans-serif;margin:12px 20px;color:#222;max-width:1240px}\n"
    "h1{font-size:1.4em;margin:0 0 .2em}\n"
    "h2{font-size:1.2em;margin:1.1em 0 .3em;border-bottom:1px solid #ddd}\n"
    "h3{font-size:1em;margin:.8em 0 .3em}p{margin:.2em 0 .5em;font-size:90%}\n"
    ".tw{overflow-x:auto;max-width:100%;margin:0 0 1.1em}\n"
    "table{border-collapse:collapse;font-size:80%}\n"
    "th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}\n"
    "th{background:#eee;cursor:pointer;vertical-align:bottom}\n"
    "th.asc:after{content:\" \\25b2\"}th.desc:after{content:\" \\25bc\"}\n"
    "td:first-child,td:nth-child(2){text-align:left}\n"
    "table.text td,table.text th{text-align:left}\n"
    "tr:nth-child(even){background:#f8f8f8}tr.flag td{background:#fdecc8}\n"
    "tr.none td{color:#777}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:6px 10px}\n"
    "figure{margin:0;flex:0 0 600px;max-width:100%}figure svg{width:100%;height:auto}\n"
    "figcaption{font-size:80%;color:#555}\n"
    "@media print{body{margin:0;max-width:none;font-size:9pt}.tw{overflow:visible}\n"
    "th{cursor:auto}th:after{content:none!important}tr,figure{break-inside:avoid}\n"
    "h2,h3{break-after:avoid}.charts{display:block}\n"
    "figure{display:inline-block;width:48%;vertical-align:top}}\n"
    /* wide tables (the summaries: 20 columns) fit 1280 px: a smaller font and
     * headers that wrap; .tw scrolls a table alone only as a last resort */
    "table.wide{font-size:72%}table.wide th{white-space:normal;min-width:2em;"
    "max-width:5em;padding:2px 4px}\n"
    "table.wide td{padding:2px 4px}table.wide td:last-child{white-space:normal;"
    "min-width:7em}\n"
    "</style></head><body>\n";

/* The page's one script: click a column head to sort the table by it. */
static const char html_script[] =
    "<script>\n"
    "document.querySelectorAll('table').forEach(function (t) {\n"
    "  var h = t.rows[0];\n"
    "  if (!h) return;\n"
    "  Array.prototype.forEach.call(h.cells, function (th, i) {\n"
    "    th.title = 'click to sort';\n"
    "    th.addEventListener('click', function () {\n"
    "      var asc = !th.classList.contains('asc');\n"
    "      var rs = Array.prototype.slice.call(t.rows, 1);\n"
    "      var txt = function (r) { return r.cells[i] ? r.cells[i].textContent : ''; };\n"
    "      var num = function (r) { var v = parseFloat(txt(r).replace(/^=/, ''));\n"
    "        return isNaN(v) ? null : v; };\n"
    "      Array.prototype.forEach.call(h.cells, function (c) {\n"
    "        c.classList.remove('asc', 'desc'); });\n"
    "      th.classList.add(asc ? 'asc' : 'desc');\n"
    "      rs.sort(function (a, b) {\n"
    "        var x = num(a), y = num(b);\n"
    "        if (x === null && y === null)\n"
    "          return asc ? txt(a).localeCompare(txt(b)) : "
    "txt(b).localeCompare(txt(a));\n"
    "        if (x === null) return 1;\n"
    "        if (y === null) return -1;\n"
    "        return asc ? x - y : y - x;\n"
    "      });\n"
    "      rs.forEach(function (r) { r.parentNode.appendChild(r); });\n"
    "    });\n"
    "  });\n"
    "});\n"
    "</script>\n";

void ipcl_html_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

void ipcl_html_begin(FILE *f)
{
	fputs(html_head, f);
}

void ipcl_html_end(FILE *f)
{
	fputs(html_script, f);
	fputs("</body></html>\n", f);
}

void ipcl_html_heading(FILE *f, int level, const char *text)
{
	fprintf(f, "<h%d>", level);
	ipcl_html_text(f, text);
	fprintf(f, "</h%d>\n", level);
}

void ipcl_html_para(FILE *f, const char *text)
{
	fputs("<p>", f);
	ipcl_html_text(f, text);
	fputs("</p>\n", f);
}

void ipcl_html_table_begin(FILE *f, int text_table, int ncols)
{
	const char *cls = text_table
			      ? (ncols > 10 ? " class=\"text wide\"" : " class=\"text\"")
			      : (ncols > 10 ? " class=\"wide\"" : "");

	fprintf(f, "<div class=\"tw\"><table%s>\n", cls);
}

void ipcl_html_row(FILE *f, int head, const char *cls, int n, const char **cells)
{
	if (cls) {
		fputs("<tr class=\"", f);
		ipcl_html_text(f, cls);
		fputs("\">", f);
	} else {
		fputs("<tr>", f);
	}
	for (int i = 0; i < n; i++) {
		fputs(head ? "<th>" : "<td>", f);
		ipcl_html_text(f, cells[i]);
		fputs(head ? "</th>" : "</td>", f);
	}
	fputs("</tr>\n", f);
}

void ipcl_html_table_end(FILE *f)
{
	fputs("</table></div>\n", f);
}

void ipcl_html_figures(FILE *f, int begin)
{
	fputs(begin ? "<div class=\"charts\">\n" : "</div>\n", f);
}

void ipcl_html_figure(FILE *f, const char *svg, const char *caption)
{
	fputs("<figure>", f);
	fputs(svg, f);
	fputs("<figcaption>", f);
	ipcl_html_text(f, caption);
	fputs("</figcaption></figure>\n", f);
}
