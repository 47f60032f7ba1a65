/** The emulator's control API, as tests drive it over HTTP. */
export interface EmulatorControl {
  post<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  /** Mints a login code as if `user` confirmed a login in that app (wx.login for a mini program). */
  code(appid: string, user: string): Promise<string>;
  /** Paths of the WeChat API calls the emulator has seen since its last reset. */
  wechatCalls(): Promise<string[]>;
}

export function emulatorControl(emulatorUrl: string): EmulatorControl {
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const response = await fetch(`${emulatorUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`emulator ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  return {
    post,
    code: async (appid, user) => (await post<{ code: string }>('/__emulator/codes', { appid, user })).code,
    async wechatCalls() {
      const { requests } = (await (await fetch(`${emulatorUrl}/__emulator/requests`)).json()) as {
        requests: { path: string }[];
      };
      return requests.map((r) => r.path).filter((p) => !p.startsWith('/connect/'));
    },
  };
}
