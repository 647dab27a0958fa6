/*
 * html.h - the HTML pieces of the self-contained report.html: page head and
 * tail (inline CSS), headings, paragraphs, tables and figures with inline
 * SVG. Every string goes through ipcl_html_text, the one HTML escape. stdio
 * only.
 */
#ifndef IPCLAB_REPORT_HTML_H
#define IPCLAB_REPORT_HTML_H

#include <stdio.h>

/* Writes s as HTML text or a double-quoted attribute value: < > & " become
 * character references. */
void ipcl_html_text(FILE *f, const char *s);

/* The page up to <body> (charset, title, style sheet, print style), and its
 * end: the one script of the page, which sorts a table when its column head
 * is clicked (numbers by value, "-" last, other text alphabetically). */
void ipcl_html_begin(FILE *f);
void ipcl_html_end(FILE *f);

/* <hN>text</hN> (level 1..6). */
void ipcl_html_heading(FILE *f, int level, const char *text);
/* <p>text</p> */
void ipcl_html_para(FILE *f, const char *text);
/* <table> inside a <div class="tw"> that scrolls it sideways when it is still
 * too wide; class "text" when every column is text (left-aligned), "wide"
 * (smaller font, wrapping heads) for more than 10 columns. */
void ipcl_html_table_begin(FILE *f, int text_table, int ncols);
/* One row of n cells, <th> when head; cls, if not NULL, is the row's class. */
void ipcl_html_row(FILE *f, int head, const char *cls, int n, const char **cells);
void ipcl_html_table_end(FILE *f);
/* Opens (begin 1) or closes the grid that holds a run of figures. */
void ipcl_html_figures(FILE *f, int begin);
/*
 * <figure> with svg inline and caption under it. svg is gnuplot's output
 * (from "<svg" on) and goes in as it is: gnuplot writes the text of titles,
 * keys and tics as SVG text with < and & escaped.
 */
void ipcl_html_figure(FILE *f, const char *svg, const char *caption);

#endif
