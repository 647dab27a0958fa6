/*
 * doc.c - one call, both outputs: forwards each piece of the report to the
 * Markdown and the HTML writer. Leaves out: escaping (each writer does its
 * own) and any layout of its own.
 */
#include "report/doc.h"
#include "report/html.h"
#include "report/markdown.h"

void ipcl_doc_heading(struct ipcl_doc *d, int level, const char *text)
{
	ipcl_md_heading(d->md, level, text);
	ipcl_html_heading(d->html, level, text);
}

void ipcl_doc_para(struct ipcl_doc *d, const char *text)
{
	ipcl_md_para(d->md, text);
	ipcl_html_para(d->html, text);
}

void ipcl_doc_table_begin(struct ipcl_doc *d, int n, const char **head)
{
	ipcl_html_table_begin(d->html, d->text_table, n);
	ipcl_md_row(d->md, n, head);
	ipcl_html_row(d->html, 1, NULL, n, head);
	ipcl_md_rule(d->md, n, d->text_table);
}

void ipcl_doc_row(struct ipcl_doc *d, const char *cls, int n, const char **cells)
{
	ipcl_md_row(d->md, n, cells);
	ipcl_html_row(d->html, 0, cls, n, cells);
}

void ipcl_doc_table_end(struct ipcl_doc *d)
{
	ipcl_md_table_end(d->md);
	ipcl_html_table_end(d->html);
}

void ipcl_doc_figure(struct ipcl_doc *d, const char *title, const char *file,
		     const char *svg)
{
	ipcl_md_image(d->md, title, file);
	ipcl_html_figure(d->html, svg, title);
}

void ipcl_doc_figures_begin(struct ipcl_doc *d)
{
	ipcl_html_figures(d->html, 1);
}

void ipcl_doc_figures_end(struct ipcl_doc *d)
{
	ipcl_html_figures(d->html, 0);
}
