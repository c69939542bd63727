export const PUBLIC_ROUTES = ['/login', '/register', '/forgot-password', '/reset-password'];
export const isPublic = (path: string) =>
	PUBLIC_ROUTES.some((p) => path === p || path.startsWith(`${p}/`));
