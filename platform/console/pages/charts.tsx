/**
 * Chart placeholders: server-rendered boxes with a heading and a text alternative that
 * console.js fills with uPlot charts from the polled figures. `kind` says what is drawn:
 *   requests | errors | p99   one line per function (the functions page)
 *   traffic                   requests and errors of one function
 *   latency                   p50 and p99 of one function
 * The script keeps `data-total` (the sum the chart shows) and `data-points` (intervals with a
 * figure) current, for readers and tests that cannot look at a canvas.
 */
export type ChartKind = 'requests' | 'errors' | 'p99' | 'traffic' | 'latency';

export function Chart(props: { id: string; kind: ChartKind; functions: string[]; title: string; label: string }) {
  return (
    <section class="chart-box" aria-labelledby={`${props.id}-title`}>
      <h3 id={`${props.id}-title`}>{props.title}</h3>
      <div
        class="chart"
        id={props.id}
        data-chart={props.kind}
        data-functions={props.functions.join(',')}
        data-total="0"
        data-points="0"
        role="img"
        data-label={props.label}
        aria-label={props.label}
      ></div>
    </section>
  );
}
