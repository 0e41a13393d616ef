/**
 * The changes a function page leads to, each with a confirmation: rolling `latest` back, and an
 * alias's routes and weights (edited in a form, confirmed on a page of its own, applied by a
 * form post with the CSRF token through the same FunctionService.setAlias the REST API uses).
 */
import { fnPath, routesText } from './format.ts';
import { ConfirmPage, Crumbs, Layout } from './layout.tsx';

export function RollbackPage(props: { csrf: string; name: string; from: number | null; to: number }) {
  return (
    <ConfirmPage
      csrf={props.csrf}
      title={`Roll back ${props.name}`}
      page="rollback"
      section="functions"
      crumbs={[
        ['Functions', '/console/'],
        [props.name, fnPath(props.name)],
      ]}
      heading={`Roll back ${props.name} to v${props.to}?`}
      action={`${fnPath(props.name)}/rollback`}
      fields={{ to: `v${props.to}` }}
      confirm={`Roll back to v${props.to}`}
      cancel={fnPath(props.name)}
      danger
    >
      <p>
        The alias <code>latest</code> moves from {props.from === null ? 'its current version' : `v${props.from}`} to v{props.to}. New requests go to v{props.to}{' '}
        at once; instances of the version it leaves are drained.
      </p>
    </ConfirmPage>
  );
}

export interface RouteInput {
  version: string;
  weight: string;
}

/**
 * The form for an alias's routes: one version, or a split between two whose weights sum to 100.
 * It submits (GET) to the confirmation, which checks it as the service will.
 */
export function AliasEditPage(props: {
  csrf: string;
  name: string;
  alias: string;
  exists: boolean;
  current: Array<{ version: string; weight: number; seq?: number }>;
  versions: number[];
  routes: RouteInput[];
  error?: { detail: string; code: string };
}) {
  const base = `${fnPath(props.name)}/aliases/${encodeURIComponent(props.alias)}`;
  const rows = [props.routes[0] ?? { version: '', weight: '100' }, props.routes[1] ?? { version: '', weight: '0' }];
  return (
    <Layout title={`Alias ${props.alias} of ${props.name}`} csrf={props.csrf} page="alias" section="functions">
      <Crumbs
        trail={[
          ['Functions', '/console/'],
          [props.name, fnPath(props.name)],
        ]}
        here={`alias ${props.alias}`}
      />
      <h1>
        {props.exists ? 'Edit' : 'Set up'} the alias {props.alias} of {props.name}
      </h1>
      <p>
        {props.exists ? (
          <>
            It routes to <b data-field="routes">{routesText(props.current)}</b> now.{' '}
          </>
        ) : (
          'It does not exist yet. '
        )}
        An alias routes to one version, or splits its traffic between two by weights that sum to 100. Requests to{' '}
        <code>
          /fn/{props.name}
          {props.alias === 'latest' ? '' : `@${props.alias}`}/
        </code>{' '}
        follow it.
      </p>
      {props.error ? (
        <div class="alert" role="alert" id="form-error">
          <p>{props.error.detail}</p>
          <p class="muted">
            Code: <code data-code={props.error.code}>{props.error.code}</code>
          </p>
        </div>
      ) : null}
      <form method="get" action={`${base}/confirm`} class="routes">
        <fieldset>
          <legend>Routes</legend>
          {rows.map((r, i) => (
            <div class="route">
              <label for={`version-${i}`}>{i === 0 ? 'Version' : 'Second version (optional)'}</label>
              <select id={`version-${i}`} name="version">
                {i === 1 ? (
                  <option value="" selected={r.version === ''}>
                    none
                  </option>
                ) : null}
                {props.versions.map((seq) => (
                  <option value={`v${seq}`} selected={r.version === `v${seq}`}>
                    v{seq}
                  </option>
                ))}
              </select>
              <label for={`weight-${i}`}>Weight</label>
              <input id={`weight-${i}`} name="weight" type="number" min="0" max="100" step="1" inputmode="numeric" value={r.weight} />
            </div>
          ))}
        </fieldset>
        <button type="submit" class="primary">
          Review
        </button>{' '}
        <a href={fnPath(props.name)}>Cancel</a>
      </form>
    </Layout>
  );
}

export function AliasConfirmPage(props: {
  csrf: string;
  name: string;
  alias: string;
  from: Array<{ version: string; weight: number; seq?: number }> | null;
  to: Array<{ version: string; weight: number; seq: number }>;
}) {
  const base = `${fnPath(props.name)}/aliases/${encodeURIComponent(props.alias)}`;
  const fields: Record<string, string> = { routes: props.to.map((r) => `v${r.seq}:${r.weight}`).join(',') };
  return (
    <ConfirmPage
      csrf={props.csrf}
      title={`Alias ${props.alias} of ${props.name}`}
      page="alias-confirm"
      section="functions"
      crumbs={[
        ['Functions', '/console/'],
        [props.name, fnPath(props.name)],
        [`alias ${props.alias}`, base],
      ]}
      heading={`Route ${props.alias} of ${props.name} to ${routesText(props.to)}?`}
      action={base}
      fields={fields}
      confirm="Apply"
      cancel={base}
    >
      <p>
        The alias <code>{props.alias}</code> {props.from ? <>moves from {routesText(props.from)}</> : 'is created'} to <b>{routesText(props.to)}</b>. The
        versions it routes to are warmed first, so no request waits for the switch; instances of versions no alias routes to any more are drained.
      </p>
    </ConfirmPage>
  );
}
