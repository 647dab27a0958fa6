/*
 * html.c - report.html's markup: one file, no external resources (inline CSS,
 * inline SVG charts, no script). stdio only. Leaves out: any script, and
 * styling beyond the tables.
 */
#include "report/html.h"

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>ipclab report</title>\n<style>\n"
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\n"
    "table{border-collapse:collapse;margin:0 0 1.5em 0;font-size:90%}\n"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
    "th{background:#eee}td:first-child,td:nth-child(2){text-align:left}\n"
    "table.text td,table.text th{text-align:left}\n"
    "tr:nth-child(even){background:#f8f8f8}tr.flag td{background:#fdecc8}\n"
    "td:last-child{white-space:nowrap}tr.flag td:last-child{font-weight:bold}\n"
    "figure{margin:1em 0}\n"
    "figcaption{font-size:90%;color:#555}\n"
    "</style></head><body>\n";

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

void ipcl_html_table_begin(FILE *f, int text_table)
{
	fputs(text_table ? "<table class=\"text\">\n" : "<table>\n", f);
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
	fputs("</table>\n", f);
}

void ipcl_html_figure(FILE *f, const char *svg, const char *caption)
{
	fputs("<figure>", f);
	fputs(svg, f);
	fputs("<figcaption>", f);
	ipcl_html_text(f, caption);
	fputs("</figcaption></figure>\n", f);
}
