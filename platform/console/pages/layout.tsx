/**
 * The frame of every console page, and the pages every capability shares (messages and errors,
 * confirmations). Pages are rendered on the server with hono/jsx: complete HTML that reads and
 * works by keyboard before any script runs; console.js adds only the polled figures and charts
 * and the live log follow. Text is escaped by hono/jsx.
 *
 * Nothing secret is rendered: a page holds the session's CSRF token (useless without the
 * HttpOnly cookie, and the cookie useless without it for changes), never an API token.
 */
import type { Child } from 'hono/jsx';

/** The sections of the navigation; a page names the one it belongs to. */
export type Section = 'functions' | 'invocations' | 'machines' | 'snapshots';

const NAV: Array<[Section, string, string]> = [
  ['functions', 'Functions', '/console/'],
  ['invocations', 'Invocations', '/console/invocations'],
  ['machines', 'Machines', '/console/machines'],
  ['snapshots', 'Snapshots', '/console/snapshots'],
];

export function Layout(props: {
  title: string;
  csrf?: string;
  /** What the page is (`data-page`, for the script and tests). */
  page: string;
  section?: Section;
  /** Functions whose figures and charts the script polls. */
  poll?: string[];
  /**
   * Load this address again after some seconds (a verification under way). The address has no
   * fragment: a refresh to the same address with one is a same-document jump, not a reload.
   */
  refresh?: { seconds: number; url: string };
  children: Child;
}) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        {props.refresh ? <meta http-equiv="refresh" content={`${props.refresh.seconds}; url=${props.refresh.url}`} /> : null}
        {props.csrf ? <meta name="ignition-csrf" content={props.csrf} /> : null}
        <title>{`${props.title} · Ignition`}</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        {props.csrf ? <script type="module" src="/console/assets/console.js"></script> : null}
      </head>
      <body data-page={props.page} data-functions={props.poll?.length ? props.poll.join(',') : undefined}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/console/">
            Ignition
          </a>
          {props.csrf ? (
            <nav aria-label="Console">
              {NAV.map(([section, label, href]) => (
                <a href={href} aria-current={props.section === section ? 'page' : undefined}>
                  {label}
                </a>
              ))}
            </nav>
          ) : null}
          {props.csrf ? (
            <form method="post" action="/console/logout" class="logout">
              <input type="hidden" name="csrf" value={props.csrf} />
              <button type="submit">Sign out</button>
            </form>
          ) : null}
        </header>
        <main id="main" tabindex={-1}>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** The trail above a page's heading: links to where it sits, then its own name. */
export function Crumbs(props: { trail: Array<[string, string]>; here: string }) {
  return (
    <nav class="crumbs" aria-label="Breadcrumb">
      {props.trail.map(([label, href]) => (
        <>
          <a href={href}>{label}</a>
          {' / '}
        </>
      ))}
      <span aria-current="page">{props.here}</span>
    </nav>
  );
}

/**
 * A change's confirmation: what will happen, a form post with the CSRF token that does it, and
 * a way back that changes nothing. Nothing is focused on arrival, so an Enter meant for the
 * previous page does not confirm.
 */
export function ConfirmPage(props: {
  csrf: string;
  title: string;
  page: string;
  section: Section;
  crumbs: Array<[string, string]>;
  heading: string;
  children: Child;
  action: string;
  fields?: Record<string, string>;
  confirm: string;
  cancel: string;
  danger?: boolean;
}) {
  return (
    <Layout title={props.title} csrf={props.csrf} page={props.page} section={props.section}>
      <Crumbs trail={props.crumbs} here="confirm" />
      <h1>{props.heading}</h1>
      {props.children}
      <form method="post" action={props.action} class="confirm">
        <input type="hidden" name="csrf" value={props.csrf} />
        {Object.entries(props.fields ?? {}).map(([name, value]) => (
          <input type="hidden" name={name} value={value} />
        ))}
        <button type="submit" class={props.danger ? 'danger' : 'primary'}>
          {props.confirm}
        </button>{' '}
        <a href={props.cancel}>Cancel</a>
      </form>
    </Layout>
  );
}

/** Errors, the refusal without a session, and the page after signing out. */
export function MessagePage(props: { title: string; detail: string; code?: string; signedIn?: boolean; csrf?: string; back?: [string, string] }) {
  return (
    <Layout title={props.title} page="message" csrf={props.signedIn ? props.csrf : undefined}>
      <h1>{props.title}</h1>
      <p>{props.detail}</p>
      {props.code ? (
        <p class="muted">
          Code: <code data-code={props.code}>{props.code}</code>
        </p>
      ) : null}
      {props.back ? (
        <p>
          <a href={props.back[1]}>{props.back[0]}</a>
        </p>
      ) : null}
      {props.signedIn ? null : (
        <p>
          To sign in, run <code>ignition console</code> on a host with the admin token (<code>--url</code> prints the one-time link).
        </p>
      )}
    </Layout>
  );
}

/**
 * A column heading: its label; `num` right-aligns a column of numbers, `hidden` keeps the label
 * for screen readers only (a column of buttons).
 */
export type Column = string | { label: string; num?: boolean; hidden?: boolean };

/**
 * A table of the console: in a box that scrolls sideways at phone widths, with an optional caption
 * for screen readers and its column headings; its children are the body's rows.
 */
export function Table(props: { caption?: string; columns: Column[]; children?: Child }) {
  return (
    <div class="scroll">
      <table>
        {props.caption ? <caption class="sr-only">{props.caption}</caption> : null}
        <thead>
          <tr>
            {props.columns.map((c) => {
              const col = typeof c === 'string' ? { label: c } : c;
              return (
                <th scope="col" class={col.num ? 'num' : undefined}>
                  {col.hidden ? <span class="sr-only">{col.label}</span> : col.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** A section that says its source is not part of this daemon, instead of failing the page. */
export function Unavailable(props: { what: string }) {
  return <p class="muted">{props.what} is not available in this daemon.</p>;
}
