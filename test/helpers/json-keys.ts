/** The paths of the keys in a JSON value that are not snake_case (`numbers.byPasses`): every JSON file mc-dropout writes has none. */
export function keysNotSnakeCase(value: unknown, at = ''): string[] {
  if (Array.isArray(value)) return [...new Set(value.flatMap((v) => keysNotSnakeCase(v, `${at}[]`)))];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const path = at ? `${at}.${key}` : key;
    return [...(/^[a-z0-9]+(_[a-z0-9]+)*$/.test(key) ? [] : [path]), ...keysNotSnakeCase(v, path)];
  });
}
