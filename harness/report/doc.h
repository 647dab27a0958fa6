/*
 * doc.h - the report as one document written twice: each heading, paragraph,
 * table row and figure goes to report.md (markdown.h) and report.html
 * (html.h) at once, so the two always say the same. stdio only.
 */
#ifndef IPCLAB_REPORT_DOC_H
#define IPCLAB_REPORT_DOC_H

#include <stdio.h>

struct ipcl_doc {
	FILE *md, *html;
	int text_table; /* the table being written holds text: left-aligned */
};

void ipcl_doc_heading(struct ipcl_doc *d, int level, const char *text);
void ipcl_doc_para(struct ipcl_doc *d, const char *text);
/* A table with the n column heads head. */
void ipcl_doc_table_begin(struct ipcl_doc *d, int n, const char **head);
/* One row of n cells; cls, if not NULL, is the HTML row's class ("flag"). */
void ipcl_doc_row(struct ipcl_doc *d, const char *cls, int n, const char **cells);
void ipcl_doc_table_end(struct ipcl_doc *d);
/* A run of charts side by side (HTML: a wrapping grid; Markdown: nothing). */
void ipcl_doc_figures_begin(struct ipcl_doc *d);
void ipcl_doc_figures_end(struct ipcl_doc *d);
/* A chart: an image link to file in Markdown, svg inline in HTML. */
void ipcl_doc_figure(struct ipcl_doc *d, const char *title, const char *file,
		     const char *svg);

#endif
