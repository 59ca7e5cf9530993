export interface Certificates {
  caFile: string // the CA's certificate (PEM), what `--s3-ca` takes
  certFile: string // the server's certificate (PEM)
  keyFile: string // the server's private key (PEM)
}
export function throwawayCa(): Certificates
