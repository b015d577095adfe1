// Hugging Face Space ids as server addresses, mapped as Trackio's Python client maps them
// (`trackio/remote_client.py: _space_id_to_url`).

/** Whether `value` looks like a Space id (`user/space`) rather than a URL. */
export function isSpaceId(value: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(value);
}

/**
 * `"ns/name"` → `https://{(ns + "-" + name).lower().replace("_","-").replace(".","-")}.hf.space/`,
 * e.g. `"Some_User/my.space"` → `https://some-user-my-space.hf.space/`.
 */
export function spaceIdToUrl(spaceId: string): string {
  const slash = spaceId.indexOf("/");
  const subdomain = `${spaceId.slice(0, slash)}-${spaceId.slice(slash + 1)}`
    .toLowerCase()
    .replaceAll("_", "-")
    .replaceAll(".", "-");
  return `https://${subdomain}.hf.space/`;
}
