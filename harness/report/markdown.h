/*
 * markdown.h - the Markdown pieces of report.md: headings, paragraphs, GFM
 * table rows and images. Every string goes through ipcl_md_text, the one
 * Markdown escape. stdio only.
 */
#ifndef IPCLAB_REPORT_MARKDOWN_H
#define IPCLAB_REPORT_MARKDOWN_H

#include <stdio.h>

/*
 * Writes s as inline Markdown text that renders as s and nothing else: the
 * characters that start markup (\ ` * [ ] < | ~ & # and _ except inside a
 * word) get a backslash (CommonMark 2.4), and control characters, newlines
 * included, become spaces, so that s cannot end a table row or a paragraph.
 */
void ipcl_md_text(FILE *f, const char *s);

/* "## text" and a blank line (level 1..4). */
void ipcl_md_heading(FILE *f, int level, const char *text);
/* text and a blank line. */
void ipcl_md_para(FILE *f, const char *text);
/* "| c0 | c1 |": one table row of n cells. */
void ipcl_md_row(FILE *f, int n, const char **cells);
/* The rule under a table's head row: the first two columns and every column of
 * a text table left-aligned, the others right-aligned. */
void ipcl_md_rule(FILE *f, int n, int text_table);
/* The blank line that ends a table. */
void ipcl_md_table_end(FILE *f);
/* "![title](file)": file is a name the report made, not data. */
void ipcl_md_image(FILE *f, const char *title, const char *file);

#endif
