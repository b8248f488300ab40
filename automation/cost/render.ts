import type { CostEstimate } from "./estimate";
import { PRICES } from "./prices";

/** Where each traffic assumption came from, e.g. `platform:monthlyRequests` or `--requests`. */
export interface TrafficSources {
  monthlyRequests: string;
  averageDurationMs: string;
}

const cents = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const quantity = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

/**
 * Dollars with 2 decimals; an amount that would show as $0.00 but is not zero keeps two
 * significant digits instead ($0.0038), so that small charges stay visible.
 */
export function formatUsd(amount: number): string {
  const sign = amount < 0 ? "-" : "";
  const size = Math.abs(amount);
  if (size === 0 || size >= 0.005) return `${sign}$${cents.format(size)}`;
  const decimals = Math.min(12, 1 - Math.floor(Math.log10(size)));
  return `${sign}$${size.toFixed(decimals)}`;
}

export const formatQuantity = (value: number): string => quantity.format(value);

type Align = "left" | "right";

/** A plain-text table: columns padded to their widest cell, two spaces apart. */
function table(header: string[], rows: string[][], align: Align[]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        align[column] === "right" ? cell.padStart(widths[column]) : cell.padEnd(widths[column]),
      )
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The estimate as a readable report: routes, Lambda lines, other services, total and notes. */
export function renderCostText(estimate: CostEstimate, sources?: TrafficSources): string {
  const { traffic } = estimate;
  const lines = [
    `Monthly cost estimate of stack ${estimate.stack} (stage ${estimate.stage}, region ${estimate.region}), US dollars`,
    `Traffic: ${formatQuantity(traffic.monthlyRequests)} API requests a month${sources ? ` (${sources.monthlyRequests})` : ""}, ` +
      `${formatQuantity(traffic.averageDurationMs)} ms average duration${sources ? ` (${sources.averageDurationMs})` : ""}`,
    "",
  ];

  const units = (count: number, unit: string) => (count > 0 ? `${formatQuantity(count)} ${unit}` : "");
  lines.push(
    ...table(
      ["Route", "Function", "Requests", "DynamoDB per request", "Assumption"],
      estimate.routes.map((route) => [
        route.route,
        route.functionName ?? "-",
        formatQuantity(route.requests),
        [units(route.readUnitsPerRequest, "RRU"), units(route.writeUnitsPerRequest, "WRU")]
          .filter(Boolean)
          .join(" + ") || "-",
        route.reason,
      ]),
      ["left", "left", "right", "left", "left"],
    ),
    "",
  );

  lines.push(
    ...table(
      [
        "Lambda function",
        "Memory",
        "Arch",
        "Requests",
        "GB-seconds",
        "Provisioned",
        "Request charge",
        "Duration charge",
        "Provisioned charge",
        "Cost",
      ],
      estimate.lambda.map((line) => [
        line.functionName,
        `${line.memoryMb} MB`,
        line.architecture,
        formatQuantity(line.requests),
        formatQuantity(line.gbSeconds),
        String(line.provisionedConcurrency),
        formatUsd(line.requestCost),
        formatUsd(line.durationCost),
        formatUsd(line.provisionedCost),
        formatUsd(line.cost),
      ]),
      ["left", "right", "left", "right", "right", "right", "right", "right", "right", "right"],
    ),
    "",
  );

  if (estimate.services.length > 0) {
    lines.push(
      ...table(
        ["Service", "Item", "Quantity", "Price", "Cost"],
        estimate.services.map((line) => [
          line.service,
          line.item,
          `${formatQuantity(line.quantity)} ${line.unit}`,
          line.price,
          formatUsd(line.cost),
        ]),
        ["left", "left", "right", "left", "right"],
      ),
      "",
    );
  }

  lines.push(`Total per month: ${formatUsd(estimate.total)} (the sum of the unrounded lines)`, "", "Notes:");
  lines.push(...estimate.notes.map((note) => `- ${note}`));
  return lines.join("\n");
}

/** The estimate for machines: every figure unrounded, plus the prices it used. */
export function costToJson(estimate: CostEstimate, sources?: TrafficSources): object {
  return { ...estimate, trafficSources: sources ?? null, prices: PRICES };
}
