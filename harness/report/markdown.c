/*
 * markdown.c - report.md's markup (CommonMark with GFM tables), written with
 * stdio. Leaves out: wrapping long lines, and any Markdown feature the report
 * does not use.
 */
#include <ctype.h>
#include <string.h>

#include "report/markdown.h"

/* Is c an ASCII letter or digit (the neighbours of an in-word underscore)? */
static int md_alnum(char c)
{
	return c > 0 && isalnum((unsigned char)c);
}

void ipcl_md_text(FILE *f, const char *s)
{
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			fputc(' ', f);
		else if (c == '_' && p > s && md_alnum(p[-1]) && md_alnum(p[1]))
			fputc(c, f); /* "a_b" cannot open or close emphasis */
		else if (c && strchr("\\`*_[]<|~&#", c)) {
			fputc('\\', f);
			fputc(c, f);
		} else
			fputc(c, f);
	}
}

void ipcl_md_heading(FILE *f, int level, const char *text)
{
	fprintf(f, "%.*s ", level, "####");
	ipcl_md_text(f, text);
	fputs("\n\n", f);
}

void ipcl_md_para(FILE *f, const char *text)
{
	ipcl_md_text(f, text);
	fputs("\n\n", f);
}

void ipcl_md_row(FILE *f, int n, const char **cells)
{
	fputs("|", f);
	for (int i = 0; i < n; i++) {
		fputc(' ', f);
		ipcl_md_text(f, cells[i]);
		fputs(" |", f);
	}
	fputs("\n", f);
}

void ipcl_md_rule(FILE *f, int n, int text_table)
{
	fputs("|", f);
	for (int i = 0; i < n; i++)
		fputs(i < 2 || text_table ? "---|" : "--:|", f);
	fputs("\n", f);
}

void ipcl_md_table_end(FILE *f)
{
	fputs("\n", f);
}

void ipcl_md_image(FILE *f, const char *title, const char *file)
{
	fputs("![", f);
	ipcl_md_text(f, title);
	fprintf(f, "](%s)\n\n", file);
}
