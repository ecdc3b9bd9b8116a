// Numbers, money, durations and times for people, in the browser's locale and time zone.
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const money = new Intl.NumberFormat(undefined, { style: "currency", currency: "USD" });
const smallMoney = new Intl.NumberFormat(undefined, {
  style: "currency",
  currency: "USD",
  maximumFractionDigits: 4,
});
const compactNumber = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const compactMoney = new Intl.NumberFormat(undefined, {
  style: "currency",
  currency: "USD",
  notation: "compact",
  maximumFractionDigits: 1,
});
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

const missing = "—";

export const count = (n) => (n === null || n === undefined ? missing : integer.format(n));
export const number = (n) => (n === null || n === undefined ? missing : decimal.format(n));
export const ratio = (n) => (n === null || n === undefined ? missing : percent.format(n));

// "1 prediction", "2 predictions": a count and its noun, in the plural unless it is one.
export const plural = (n, one, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;

export function cost(n) {
  if (n === null || n === undefined) return missing;
  return Math.abs(n) > 0 && Math.abs(n) < 1 ? smallMoney.format(n) : money.format(n);
}

// Short labels for a chart's axis: 1.2M, $3.4K, 1.5 s.
export const compact = (n) => compactNumber.format(n);
export const compactCost = (n) => (Math.abs(n) > 0 && Math.abs(n) < 1 ? smallMoney.format(n) : compactMoney.format(n));
export const compactMs = (n) => (n >= 1000 ? `${compactNumber.format(n / 1000)} s` : `${compactNumber.format(n)} ms`);

export function ms(n) {
  if (n === null || n === undefined) return missing;
  return n >= 1000 ? `${decimal.format(n / 1000)} s` : `${decimal.format(n)} ms`;
}

export function time(iso) {
  if (!iso) return missing;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? missing : dateTime.format(d);
}

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
