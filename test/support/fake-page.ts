/** A stand-in for the DOM of the emulator's phone pages, for running their scripts in node:vm. */

interface FakeElement {
  hidden: boolean;
  disabled: boolean;
  value: string;
  textContent: string;
  dateTime: string;
  dataset: Record<string, string>;
  listeners: (() => void)[];
  addEventListener(type: string, listener: () => void): void;
}

/** Just enough of a browser's DOM for the phone pages' scripts: its elements by id, with their data attributes. */
export function fakePage(html: string) {
  const elements = new Map<string, FakeElement>();
  for (const [tag] of html.matchAll(/<[a-z]+ [^>]*id="[^"]+"[^>]*>/g)) {
    const attribute = (name: string) => new RegExp(` ${name}="([^"]*)"`).exec(tag)?.[1];
    const dataset = Object.fromEntries(
      [...tag.matchAll(/ data-([a-z-]+)="([^"]*)"/g)].map(([, name, value]) => [
        name!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
        value!.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))),
      ]),
    );
    elements.set(attribute('id')!, {
      hidden: / hidden[ >]/.test(tag),
      disabled: false,
      value: attribute('value') ?? '',
      textContent: '',
      dateTime: '',
      dataset,
      listeners: [],
      addEventListener(type, listener) {
        if (type === 'click') this.listeners.push(listener);
      },
    });
  }
  const el = (id: string) => elements.get(id)!;
  return {
    document: { getElementById: (id: string) => elements.get(id) ?? null },
    el,
    /** Clicks and waits until the script's calls are done (its buttons enabled again). */
    async click(id: string) {
      el(id).listeners.forEach((listener) => listener());
      const until = Date.now() + 5000;
      while (el('scan').disabled && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    },
  };
}
